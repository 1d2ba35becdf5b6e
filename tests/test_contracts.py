"""docs/contracts.md is the page every part of the workshop agrees on: its metrics, endpoints and model-card keys
must be exactly what the app exports, serves and writes. The check runs on the real doc, and on edited copies
to show that it notices a documented metric, endpoint or card key that is gone."""
import re
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from workshop.addresses import APP_JOB, APP_PORT, PORTS, WEBHOOK_PORT
from workshop.paths import DOCS_DIR

CONTRACTS = DOCS_DIR / "contracts.md"


def section(text: str, heading: str) -> str:
    """The body of the section whose heading starts with `heading` (up to the next heading of any level)."""
    match = re.search(rf"^#+ {re.escape(heading)}.*?$(.*?)(?=^#|\Z)", text, re.M | re.S)
    assert match, f"no section {heading!r} in {CONTRACTS.name}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of a Markdown table's body rows (header and separator left out)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.strip().startswith("|")]
    return [row for row in rows[2:]]


def documented(text: str) -> dict[str, set]:
    metrics = {(row[0].strip("`"), row[1].split()[0]) for row in table_rows(section(text, "Metrics exported"))}
    endpoints = {(method.strip(), row[1].strip("`")) for row in table_rows(section(text, "Endpoints"))
                 for method in row[0].split(",")}
    card = section(text, "Model artifacts")
    card = card[card.index("`model_card.json`"):card.index("`reference_profile.json`")]
    return {"metrics": metrics, "endpoints": endpoints, "card keys": {row[0].strip("`") for row in table_rows(card)}}


def actual(app, card: dict) -> dict[str, set]:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    metrics = {(name + "_total" if kind == "counter" else name, kind) for name, kind in families.items()
               if not (name.endswith("_created") and name.removesuffix("_created") in families)}
    endpoints = {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
                 for method in rule.methods - {"HEAD", "OPTIONS"}}
    return {"metrics": metrics, "endpoints": endpoints, "card keys": set(card)}


def contract_problems(text: str, app, card: dict) -> list[str]:
    doc, real = documented(text), actual(app, card)
    problems = []
    for kind in doc:
        problems += [f"{kind}: documented but not in the app: {x}" for x in sorted(doc[kind] - real[kind])]
        problems += [f"{kind}: in the app but not documented: {x}" for x in sorted(real[kind] - doc[kind])]
    return problems


@pytest.fixture(scope="module")
def full_app(model_dir):
    """The app with every route (fault injection on, as in the alerting lesson)."""
    from app.config import Settings
    return create_app(replace(Settings(model_dir=model_dir), enable_faults=True, log_requests=False))


def test_contracts_doc_matches_the_app(full_app, model_card):
    assert contract_problems(CONTRACTS.read_text(), full_app, model_card) == []


@pytest.mark.parametrize("removed, expected", [
    ("| `drift_monitoring_enabled` |", "metrics: in the app but not documented: ('drift_monitoring_enabled', 'gauge')"),
    ("| `predictions_total` |", "metrics: in the app but not documented: ('predictions_total', 'counter')"),
    ("| `artifact_sha256` |", "card keys: in the app but not documented: artifact_sha256"),
    ("| `seed` |", "card keys: in the app but not documented: seed"),
    ("| GET | `/ready` |", "endpoints: in the app but not documented: ('GET', '/ready')"),
])
def test_the_check_fails_when_a_documented_fact_is_removed(full_app, model_card, removed, expected):
    text = CONTRACTS.read_text()
    lines = [line for line in text.splitlines() if not line.startswith(removed)]
    assert len(lines) == len(text.splitlines()) - 1, f"{removed!r} is not one line of the doc"
    assert contract_problems("\n".join(lines), full_app, model_card) == [expected]


def test_the_check_fails_on_a_stale_key(full_app, model_card):
    """The bug this test was written for: the doc listed a `training` key that the card never had."""
    text = CONTRACTS.read_text().replace("| `seed` |", "| `training` |")
    assert contract_problems(text, full_app, model_card) == [
        "card keys: documented but not in the app: training", "card keys: in the app but not documented: seed"]


def test_ports_and_job_in_the_doc_are_the_ones_the_code_uses():
    text = CONTRACTS.read_text()
    ports = {row[0]: row[1] for row in table_rows(section(text, "Ports and addresses"))}
    expected = {"model app": APP_PORT, "Prometheus": PORTS["prometheus"], "Alertmanager": PORTS["alertmanager"],
                "Grafana": PORTS["grafana"], "workshop webhook": WEBHOOK_PORT}
    for what, port in expected.items():
        (row,) = [address for name, address in ports.items() if name.startswith(what)]
        assert row.startswith(f"127.0.0.1:{port}"), (what, row)
    assert f"Prometheus job name: `{APP_JOB}`" in text
