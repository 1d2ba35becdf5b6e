"""Where things live in the repository, independent of the current working directory."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_DIR = REPO_ROOT / "app"
MODELS_DIR = REPO_ROOT / "models"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
BUILD_DIR = REPO_ROOT / "build"
RUN_DIR = REPO_ROOT / ".run"
DATA_DIR = REPO_ROOT / "data"
DOCS_DIR = REPO_ROOT / "docs"

PROMETHEUS_DIR = REPO_ROOT / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_CONFIG = PROMETHEUS_DIR / "alertmanager.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
LESSON_RULES_DIR = RUN_DIR / "lesson-rules"  # the alerting lesson's lesson-speed copy (workshop.rules)
DASHBOARDS_DIR = REPO_ROOT / "grafana-provisioning" / "dashboards" / "json"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_FILE, ENV_EXAMPLE = REPO_ROOT / ".env", REPO_ROOT / ".env.example"
