"""Claims of docs/security.md that no other test covers: default bind addresses and the production config
removing lesson faults. Each other line of docs/security.md names the test that proves it."""
import dataclasses
import os
import re
import runpy

import pytest

from app.config import Settings
from app.main import create_app
from workshop.paths import REPO_ROOT
from workshop.webhook import WebhookReceiver

GUNICORN_CONF = REPO_ROOT / "app" / "gunicorn_conf.py"


@pytest.fixture
def production_config(monkeypatch, tmp_path):
    """Load app/gunicorn_conf.py as gunicorn does, in an environment that asks for faults."""
    for name in ("APP_HOST", "APP_PORT", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("ENABLE_FAULTS", "1")
    return runpy.run_path(str(GUNICORN_CONF))


def test_everything_listens_on_loopback_by_default(production_config, monkeypatch):
    monkeypatch.delenv("APP_HOST", raising=False)
    assert Settings.from_env().host == "127.0.0.1"
    assert production_config["bind"] == "127.0.0.1:8000"
    assert WebhookReceiver().host == "127.0.0.1"


def test_production_config_removes_lesson_faults_before_the_app_starts(production_config, model_dir):
    assert "ENABLE_FAULTS" not in os.environ  # popped by the config, before any worker imports the app
    settings = dataclasses.replace(Settings.from_env(), model_dir=model_dir)
    assert not settings.enable_faults
    client = create_app(settings).test_client()
    assert client.post("/admin/faults", json={"error_rate": 1}).status_code == 404


def test_production_config_recycles_workers_with_jitter(production_config):
    assert production_config["max_requests"] > 0 and 0 < production_config["max_requests_jitter"]


def test_deeply_nested_json_is_a_clear_400(client, scrape):
    """json.loads raises RecursionError on deep nesting: a counted 400 too_deep, never a 500."""
    before = scrape("invalid_requests_total", reason="too_deep")
    response = client.post("/predict", data=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"] == "too_deep"
    assert scrape("invalid_requests_total", reason="too_deep") == before + 1


def test_a_huge_integer_is_a_400_not_a_cpu_sink(client, scrape):
    before = scrape("invalid_requests_total", reason="invalid_json")
    response = client.post("/predict", data=b'{"V1": ' + b"9" * 5000 + b"}", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_json"
    assert scrape("invalid_requests_total", reason="invalid_json") == before + 1


def test_a_malformed_request_id_is_replaced_not_echoed_into_logs(client, records):
    hostile = "<script>" + "x" * 100
    response = client.post("/predict", json=records[1][0], headers={"X-Request-ID": hostile})
    assert response.status_code == 200
    assert response.get_json()["request_id"] != hostile and response.headers["X-Request-ID"] != hostile


def test_every_test_named_in_docs_security_exists():
    """docs/security.md points each claim at a test: the pointers must stay true."""
    text = (REPO_ROOT / "docs" / "security.md").read_text()
    named, current = [], None
    for match in re.finditer(r"`(tests/test_\w+\.py)?(?:::(\w+))?`", text):
        path, test = match.groups()
        current = path or current
        if test:
            named.append((current, test))
    assert len(named) >= 20
    for path, test in named:
        source = (REPO_ROOT / path).read_text()
        assert re.search(rf"^def {test}\(", source, re.M), f"docs/security.md names {path}::{test}, which does not exist"
    assert len(named) >= 20 and "TO VERIFY" not in text
