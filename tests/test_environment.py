"""Dependencies are pinned, environment.yml (conda-forge) agrees with the pip pins, and this venv has them."""
import re
from importlib import metadata

import pytest
import yaml

from workshop.paths import REPO_ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.]+)$")
CONDA_NAMES = {"prometheus-client": "prometheus_client"}  # conda-forge spells a few names differently


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_pins() -> dict[str, str]:
    pins = {}
    for file in ("requirements.txt", "requirements-dev.txt"):
        for line in (REPO_ROOT / file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-r "):
                continue
            match = PIN.match(line)
            assert match, f"{file}: {line!r} is not pinned with =="
            pins[canonical(match[1])] = match[2]
    return pins


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and "=" in dep:
            name, version = dep.split("=", 1)
            pins[canonical(name)] = version
        elif isinstance(dep, dict):  # `- pip: [name==version]`: what conda-forge does not package
            for line in dep["pip"]:
                match = PIN.match(line)
                assert match, f"environment.yml pip: {line!r} is not pinned with =="
                pins[canonical(match[1])] = match[2]
    return pins


def test_environment_yml_mirrors_the_pip_pins():
    conda = conda_pins()
    expected = {canonical(CONDA_NAMES.get(name, name)): version for name, version in pip_pins().items()}
    assert conda.pop("python").startswith("3.11")
    assert conda == expected


@pytest.mark.parametrize("name,version", sorted(pip_pins().items()))
def test_installed_versions_match_the_pins(name, version):
    assert metadata.version(name) == version
