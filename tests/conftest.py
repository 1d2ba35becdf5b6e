"""Shared fixtures: a small real model trained once per session, the app, its test client.

Tests that need real monitoring binaries say so with `@pytest.mark.requires_binaries("prometheus", ...)`:
skipped where a binary is missing, but a failure when WORKSHOP_REQUIRE_BINARIES=1 (CI sets it), so a
broken install step cannot pass CI by skipping every live test.
"""
import json
import os
import shutil

import pytest
from helpers import REQUIRE_BINARIES_ENV, metric_value, missing

from app.config import Settings
from app.main import create_app
from app.model import CARD
from workshop.data import FEATURES, load_dataset
from workshop.deployment import version_of_champion_copy
from workshop.system_deps import install_hint
from workshop.training import train_and_save, train_challenger


@pytest.hookimpl(tryfirst=True)  # before fixtures start anything
def pytest_runtest_setup(item):
    marker = item.get_closest_marker("requires_binaries")
    if marker is None or not (absent := missing(*marker.args)):
        return
    message = f"{', '.join(absent)} not installed ({install_hint()})"
    if os.environ.get(REQUIRE_BINARIES_ENV) == "1":
        pytest.fail(f"{REQUIRE_BINARIES_ENV}=1 and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def feedback_db(tmp_path, monkeypatch):
    """Every test's app (and the app servers it starts) keeps its prediction log and labels in its own file."""
    path = tmp_path / "feedback.sqlite"
    monkeypatch.setenv("FEEDBACK_DB", str(path))
    return path


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("models")
    train_and_save(path, source="synthetic", n_rows=40_000, seed=7)
    return path


@pytest.fixture(scope="session")
def versioned_dir(model_dir, tmp_path_factory):
    """Lesson 07's layout: models/ with the champion copy, models/<lr-…>/ and a quick models/<gb-…>/ challenger.
    Returns (path, champion version, challenger version); tests write their own deployment.json."""
    path = tmp_path_factory.mktemp("versioned")
    shutil.copytree(model_dir, path, dirs_exist_ok=True)
    champion = version_of_champion_copy(path)
    challenger = train_challenger(path, source="synthetic", n_rows=40_000, seed=7, max_iter=30)["version"]
    return path, champion, challenger


@pytest.fixture(scope="session")
def model_card(model_dir):
    return json.loads((model_dir / CARD).read_text())


@pytest.fixture(scope="session")
def records():
    """Feature records exactly as the seed lesson builds them: DataFrame rows via to_dict(orient='records')."""
    df, _ = load_dataset(source="synthetic", n_rows=5_000, seed=11)
    return df, df[FEATURES].to_dict(orient="records")


@pytest.fixture()
def settings(model_dir):
    return Settings(model_dir=model_dir, log_requests=True)


@pytest.fixture()
def app(settings):
    return create_app(settings)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def scrape(client):
    """Read one metric from the app's /metrics endpoint."""
    def read(name: str, **labels) -> float:
        return metric_value(client.get("/metrics").get_data(as_text=True), name, **labels)
    return read
