"""Docker mode: `docker compose` with the committed docker-compose.yml and prometheus/ files as they are."""
import secrets
import subprocess

from workshop.addresses import LOCALHOST, PORTS
from workshop.paths import COMPOSE_FILE, ENV_EXAMPLE, ENV_FILE, REPO_ROOT
from workshop.system_deps import find_binary

DOCKER_URLS = {name: f"http://{LOCALHOST}:{PORTS[name]}" for name in ("prometheus", "alertmanager", "grafana")}


def compose_command() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose", "-f", str(COMPOSE_FILE)]
    if find_binary(("docker-compose",)):
        return ["docker-compose", "-f", str(COMPOSE_FILE)]
    raise RuntimeError("a Docker engine answers but neither `docker compose` nor `docker-compose` exists")


def ensure_env_file() -> None:
    """Grafana's admin password lives in .env (git-ignored); create it from .env.example with a random one."""
    if ENV_FILE.exists():
        return
    text = ENV_EXAMPLE.read_text().replace("change-me", secrets.token_urlsafe(12))
    ENV_FILE.write_text(text)
    print(f"Created {ENV_FILE} with a random Grafana admin password (user admin).")


def compose(*args: str) -> None:
    subprocess.run([*compose_command(), *args], cwd=REPO_ROOT, check=True)
