"""The stack's network facts: ports, host names, the Prometheus job, the webhook URLs.

Containers reach the host as host.docker.internal (docker-compose.yml maps it with `host-gateway` on Linux);
in local mode everything runs on the host and that name becomes 127.0.0.1.
"""
from app.config import Settings

LOCALHOST = "127.0.0.1"
CONTAINER_HOST_ALIAS = "host.docker.internal"
APP_JOB = "ml-model-app"  # the Prometheus job that scrapes the app (the seed's name)
APP_PORT = Settings.port
PORTS = {"prometheus": 9090, "alertmanager": 9093, "grafana": 3000}
WEBHOOK_PORT = 5001  # the workshop's alert receiver (python -m workshop.webhook)
DOCKER_WEBHOOK_URL = f"http://{CONTAINER_HOST_ALIAS}:{WEBHOOK_PORT}/alerts"  # what alertmanager.yml holds
LOCAL_WEBHOOK_URL = f"http://{LOCALHOST}:{WEBHOOK_PORT}/alerts"
