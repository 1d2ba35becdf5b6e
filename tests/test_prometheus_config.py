"""prometheus/prometheus.yml: valid for promtool, the lesson's contract, and one file for both modes."""
import shutil
import subprocess

import pytest
import yaml

from workshop.paths import PROMETHEUS_CONFIG, PROMETHEUS_DIR
from workshop.stack.config import render_alertmanager_config, render_local_config

promtool = shutil.which("promtool")
needs_promtool = pytest.mark.requires_binaries("promtool")
LOCAL_ADDRESSES = {"app.yml": ["127.0.0.1:18123"], "prometheus.yml": ["127.0.0.1:19090"],
                   "alertmanager.yml": ["127.0.0.1:19093"]}


def check_config(path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)


def committed() -> dict:
    return yaml.safe_load(PROMETHEUS_CONFIG.read_text())


def job(config: dict, name: str) -> dict:
    return next(j for j in config["scrape_configs"] if j["job_name"] == name)


def target_file(name: str) -> list[dict]:
    return yaml.safe_load((PROMETHEUS_DIR / "targets" / name).read_text())


@needs_promtool
def test_committed_config_passes_promtool():
    result = check_config(PROMETHEUS_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@needs_promtool
def test_promtool_check_catches_a_broken_target_file(tmp_path):
    """The check above is meaningful: promtool also validates the file_sd target files."""
    shutil.copytree(PROMETHEUS_DIR, tmp_path / "prometheus", ignore=shutil.ignore_patterns("rules"))
    (tmp_path / "prometheus" / "targets" / "app.yml").write_text("- targets: [unclosed\n")
    assert check_config(tmp_path / "prometheus" / "prometheus.yml").returncode != 0


def test_lesson_contract():
    config = committed()
    assert config["global"]["scrape_interval"] == "5s"
    assert config["global"]["evaluation_interval"] == "5s"
    assert config["rule_files"] == ["rules/*.yml"]
    app = job(config, "ml-model-app")
    assert [f for sd in app["file_sd_configs"] for f in sd["files"]] == ["targets/app.yml"]
    managers = config["alerting"]["alertmanagers"]
    files = [f for m in managers for sd in m["file_sd_configs"] for f in sd["files"]]
    assert files == ["targets/alertmanager.yml"]


def test_addresses_live_in_target_files_only():
    """The config names no host: every address is in targets/*.yml, which is what local mode replaces."""
    config = committed()
    for section in [*config["scrape_configs"], *config["alerting"]["alertmanagers"]]:
        assert "static_configs" not in section
        for sd in section.get("file_sd_configs", []):
            for name in sd["files"]:
                assert (PROMETHEUS_DIR / name).is_file(), name
    assert target_file("app.yml") == [{"targets": ["host.docker.internal:8000"]}]
    assert target_file("alertmanager.yml") == [{"targets": ["alertmanager:9093"]}]
    assert target_file("prometheus.yml") == [{"targets": ["localhost:9090"]}]


def test_dns_discovery_finds_the_compose_app_service():
    (dns,) = job(committed(), "ml-model-app")["dns_sd_configs"]
    assert dns["names"] == ["app"] and dns["type"] == "A" and dns["port"] == 8000


@needs_promtool
def test_rendered_local_config_passes_promtool(tmp_path):
    assert render_local_config(tmp_path, LOCAL_ADDRESSES, scrape_interval="1s")
    result = check_config(tmp_path / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_local_mode_changes_only_addresses_paths_and_intervals(tmp_path):
    render_local_config(tmp_path, LOCAL_ADDRESSES, scrape_interval="1s")
    local = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    docker = committed()
    assert local["global"] == {"scrape_interval": "1s", "evaluation_interval": "1s"}
    assert local["rule_files"] == [str(PROMETHEUS_DIR / "rules/*.yml")]
    for name, targets in LOCAL_ADDRESSES.items():
        assert yaml.safe_load((tmp_path / "targets" / name).read_text()) == [{"targets": targets}]
    # Same jobs in the same order; the Docker-only DNS discovery is gone; file_sd points at the local copies.
    def job_names(config):
        return [j["job_name"] for j in config["scrape_configs"]]

    assert job_names(local) == job_names(docker)
    app = job(local, "ml-model-app")
    assert "dns_sd_configs" not in app
    assert app["file_sd_configs"] == [{"files": [str(tmp_path / "targets" / "app.yml")]}]
    for section in (local, docker):
        for j in section["scrape_configs"]:
            j.pop("dns_sd_configs", None)
            j.pop("file_sd_configs")
        section["alerting"]["alertmanagers"][0].pop("file_sd_configs")
        section.pop("global"), section.pop("rule_files")
    assert local == docker


def test_default_intervals_are_kept(tmp_path):
    render_local_config(tmp_path, LOCAL_ADDRESSES)
    assert yaml.safe_load((tmp_path / "prometheus.yml").read_text())["global"] == committed()["global"]


def test_rerender_touches_only_what_changed(tmp_path):
    assert render_local_config(tmp_path, LOCAL_ADDRESSES)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "targets").iterdir()}
    assert not render_local_config(tmp_path, LOCAL_ADDRESSES)
    moved = {**LOCAL_ADDRESSES, "app.yml": ["127.0.0.1:18124", {"targets": ["127.0.0.1:18125"],
                                                                 "labels": {"variant": "b"}}]}
    assert render_local_config(tmp_path, moved)
    changed = {p.name for p in (tmp_path / "targets").iterdir() if p.stat().st_mtime_ns != stamps[p.name]}
    assert changed == {"app.yml"}
    assert yaml.safe_load((tmp_path / "targets" / "app.yml").read_text()) == [
        {"targets": ["127.0.0.1:18124"]}, {"targets": ["127.0.0.1:18125"], "labels": {"variant": "b"}}]


def test_unknown_target_file_is_an_error(tmp_path):
    source = tmp_path / "prometheus.yml"
    source.write_text("scrape_configs:\n  - job_name: x\n"
                      "    file_sd_configs: [{files: [targets/other.yml]}]\n")
    with pytest.raises(ValueError, match="other.yml"):
        render_local_config(tmp_path / "out", LOCAL_ADDRESSES, source=source)


def test_local_alertmanager_config_reaches_host_receivers_on_loopback(tmp_path):
    source = tmp_path / "alertmanager.yml"
    source.write_text("route: {receiver: hook}\ntemplates: [notify.tmpl]\nreceivers:\n  - name: hook\n"
                      "    webhook_configs: [{url: 'http://host.docker.internal:5001/alerts'}]\n")
    rendered = yaml.safe_load(render_alertmanager_config(None, tmp_path / "out" / "alertmanager.yml", source=source).read_text())
    assert rendered["receivers"][0]["webhook_configs"][0]["url"] == "http://127.0.0.1:5001/alerts"
    assert rendered["templates"] == [str(tmp_path / "notify.tmpl")]
