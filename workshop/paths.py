"""Where things live in the repository, independent of the current working directory."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_DIR = REPO_ROOT / "app"
MODELS_DIR = REPO_ROOT / "models"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
BUILD_DIR = REPO_ROOT / "build"
RUN_DIR = REPO_ROOT / ".run"
DATA_DIR = REPO_ROOT / "data"
