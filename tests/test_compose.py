"""docker-compose.yml, checked statically (no Docker engine): pinned, local-only, provisioned, no secrets."""
import os
import re
import shutil
import subprocess

import pytest
import yaml
from helpers import schema_errors

from workshop.paths import PROMETHEUS_CONFIG, REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
HOST_GATEWAY = "host.docker.internal:host-gateway"


def env_keys(path) -> set[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def bind_mounts(service: dict) -> list[tuple[str, str, str]]:
    """(host path, container path, mode) of the bind mounts (short syntax, host path starting with . or /)."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        if source.startswith((".", "/")):
            mounts.append((source, target, mode[0] if mode else "rw"))
    return mounts


def host_path(service: dict, container_path: str):
    """The repository file a container path comes from, through the service's bind mounts."""
    for source, target, _ in bind_mounts(service):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return (REPO_ROOT / source / container_path[len(target):].lstrip("/")).resolve()
    raise AssertionError(f"{container_path} is not bind-mounted")


def flag(service: dict, name: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in service["command"] if arg.startswith(f"--{name}=")]
    return value


def test_core_services_and_optional_app():
    assert {"prometheus", "alertmanager", "grafana", "app"} <= set(SERVICES)
    assert SERVICES["app"]["profiles"] == ["app"]
    assert all("profiles" not in SERVICES[name] for name in ("prometheus", "alertmanager", "grafana"))


@pytest.mark.parametrize("name", ["prometheus", "alertmanager", "grafana"])
def test_images_are_pinned(name):
    image = SERVICES[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository in {"prom/prometheus", "prom/alertmanager", "grafana/grafana"}
    assert tag != "latest" and re.fullmatch(r"v?\d+\.\d+\.\d+", tag), image


def test_every_image_has_a_tag():
    images = [s["image"] for s in SERVICES.values() if "image" in s]
    assert all(":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest") for image in images)


def test_published_ports_bind_loopback_only():
    published = [(name, port) for name, s in SERVICES.items() for port in s.get("ports", [])]
    assert {name for name, _ in published} == {"prometheus", "alertmanager", "grafana"}
    for name, port in published:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
    assert "ports" not in SERVICES["app"]  # replicas (--scale app=3) cannot share a host port


def test_containers_reach_the_host_through_host_gateway():
    for name in ("prometheus", "alertmanager"):
        assert HOST_GATEWAY in SERVICES[name]["extra_hosts"], name


def test_volumes_are_named_or_existing_repo_paths():
    declared = set(COMPOSE["volumes"])
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO_ROOT / source).exists(), f"{name}: {source} missing from the repository"
            else:
                used.add(source)
    assert used == declared == {"prometheus-data", "alertmanager-data", "grafana-data"}


def test_configuration_mounts_are_read_only():
    mounts = [(name, m) for name, s in SERVICES.items() for m in bind_mounts(s)]
    assert mounts
    for name, (source, _, mode) in mounts:
        assert mode == "ro", f"{name}: {source} must be mounted :ro"


def test_config_files_resolve_to_repository_files():
    prometheus = SERVICES["prometheus"]
    assert host_path(prometheus, flag(prometheus, "config.file")) == PROMETHEUS_CONFIG
    alertmanager = SERVICES["alertmanager"]
    path = host_path(alertmanager, flag(alertmanager, "config.file"))
    assert path == REPO_ROOT / "prometheus" / "alertmanager.yml"
    assert path.is_file(), "prometheus/alertmanager.yml is missing"
    # Rules and target files are inside the mounted directory, next to prometheus.yml.
    assert host_path(prometheus, "/etc/prometheus/targets/app.yml").is_file()


# Compose interpolation as the Compose specification defines it (12-interpolation.md): ${VAR}, ${VAR:-default},
# ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}, $$ for a literal $. Compose reads the
# project's .env for these values, so this shows what `docker compose up` does with or without .env.
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value, env: dict):
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match):
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if op in (":?", "?") and not present:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-"):
            return env[name] if present else arg
        if op in (":+", "+"):
            return arg if present else ""
        return env.get(name, "")
    return INTERPOLATION.sub(substitute, value)


def env_file(path) -> dict:
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_interpolation_helper_follows_the_spec():
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} $${SET} ${SET:+alt} ${UNSET+alt}", env) \
        == "x d d  ${SET} alt "
    with pytest.raises(MissingVariable, match="EMPTY is missing a value: boom"):
        interpolate("${EMPTY:?boom}", env)
    assert interpolate("${EMPTY?boom}", env) == ""


def test_grafana_secret_comes_from_an_uncommitted_env_file():
    grafana = SERVICES["grafana"]
    assert "env_file" not in grafana  # a missing env_file is an error before Compose 2.24; interpolation is not
    password = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{GF_SECURITY_ADMIN_PASSWORD:\?[^}]+\}", password), "required, no default"
    assert {"GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD"} <= env_keys(REPO_ROOT / ".env.example")
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and ".env.example" not in ignored


def test_plain_compose_up_without_env_file_stops_with_a_clear_message():
    with pytest.raises(MissingVariable, match=r"GF_SECURITY_ADMIN_PASSWORD .*run make up.*\.env\.example to \.env"):
        interpolate(COMPOSE, env={})


def test_with_the_env_file_grafana_gets_its_password_and_nothing_is_left_empty():
    env = env_file(REPO_ROOT / ".env.example")
    resolved = interpolate(COMPOSE, env)
    grafana = resolved["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == env["GF_SECURITY_ADMIN_PASSWORD"] != "admin"
    assert grafana["GF_SECURITY_ADMIN_USER"] == "admin"
    assert "$" not in yaml.safe_dump(resolved)  # every variable resolved


def test_make_up_writes_a_random_admin_password(tmp_path, monkeypatch):
    from workshop.stack import docker
    monkeypatch.setattr(docker, "ENV_FILE", tmp_path / ".env")
    docker.ensure_env_file()
    password = env_file(tmp_path / ".env")["GF_SECURITY_ADMIN_PASSWORD"]
    assert password not in ("admin", "change-me", "") and len(password) >= 16
    assert interpolate(COMPOSE, env_file(tmp_path / ".env"))["services"]["grafana"]["environment"][
        "GF_SECURITY_ADMIN_PASSWORD"] == password


# The Compose specification's JSON schema, bundled with check-jsonschema (offline; no Docker needed). The file
# is valid as written: the schema types environment values as strings, so `${VAR:?message}` passes as text.
# `docker compose` interpolates first and then validates, so the interpolated file (.env.example values) is
# checked too. Broken copies show the check can fail: (text replaced, replacement, what the schema says).
BROKEN_COMPOSE = {
    "misspelled service key": ("  image: prom/prometheus", "  imagee: prom/prometheus", "'imagee' was unexpected"),
    "misspelled top-level key": ("\nvolumes:\n", "\nvolume:\n", "'volume' does not match"),
    "depends_on not a list": ("    depends_on:\n      - alertmanager\n", "    depends_on: alertmanager\n",
                              "$.services.prometheus.depends_on"),
}


@pytest.fixture(scope="module")
def compose_schema(tmp_path_factory):
    """{name: errors} for the real file, its interpolation and each broken copy, from one check-jsonschema run."""
    folder = tmp_path_factory.mktemp("compose")
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    files = {"as written": REPO_ROOT / "docker-compose.yml", "interpolated": folder / "interpolated.yml"}
    resolved = interpolate(COMPOSE, env_file(REPO_ROOT / ".env.example"))
    files["interpolated"].write_text(yaml.safe_dump(resolved, sort_keys=False))
    for index, (name, (old, new, _)) in enumerate(BROKEN_COMPOSE.items()):
        assert text.count(old) == 1, f"docker-compose.yml should contain {old!r} once: update this test"
        files[name] = folder / f"broken-{index}.yml"
        files[name].write_text(text.replace(old, new))
    errors = schema_errors(*files.values(), schema="vendor.compose-spec")
    return {name: errors[str(path)] for name, path in files.items()}


@pytest.mark.parametrize("form", ["as written", "interpolated"])
def test_compose_file_follows_the_compose_specification(compose_schema, form):
    assert compose_schema[form] == []


@pytest.mark.parametrize("name", BROKEN_COMPOSE)
def test_compose_schema_check_rejects_a_broken_copy(compose_schema, name):
    message = BROKEN_COMPOSE[name][2]
    assert any(message in error for error in compose_schema[name]), compose_schema[name]


def docker_compose_available() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not docker_compose_available(), reason="the docker compose plugin is not installed (no engine needed)")
def test_docker_compose_config_agrees(tmp_path):
    """`docker compose config` needs only the client: it validates the file and applies the interpolation.
    Run on a copy in an empty folder: first without .env (must stop with the message), then with one."""
    shutil.copy(REPO_ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    config = ["docker", "compose", "-f", str(tmp_path / "docker-compose.yml"), "config", "--quiet"]
    without = subprocess.run(config, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert without.returncode != 0 and "run make up" in without.stderr, without.stderr
    shutil.copy(REPO_ROOT / ".env.example", tmp_path / ".env")
    with_env = subprocess.run(config, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert with_env.returncode == 0, with_env.stderr


def test_grafana_anonymous_viewers_and_home_dashboard():
    grafana = SERVICES["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"  # read-only: no editing, no admin
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    home = host_path(grafana, env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home == REPO_ROOT / "grafana-provisioning" / "dashboards" / "json" / "ml-model-overview.json"
    assert home.is_file()
    assert host_path(grafana, "/etc/grafana/provisioning") == REPO_ROOT / "grafana-provisioning"


def test_app_service_matches_prometheus_dns_discovery():
    app = SERVICES["app"]
    assert app["build"] == "." and (REPO_ROOT / "Dockerfile").is_file()
    assert app["environment"]["APP_HOST"] == "0.0.0.0"
    jobs = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    (dns,) = next(j for j in jobs if j["job_name"] == "ml-model-app")["dns_sd_configs"]
    assert "app" in dns["names"]
    assert dns["port"] == int(app["environment"]["APP_PORT"]) and str(dns["port"]) in app["expose"]


def test_dockerfile_serves_the_app_on_the_scraped_port():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert "EXPOSE 8000" in dockerfile and "APP_HOST=0.0.0.0" in dockerfile
    assert "app.main:create_app()" in dockerfile
    assert re.search(r"^USER (?!root)", dockerfile, re.M)
