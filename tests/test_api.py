"""The HTTP contract of the model service, through Flask's test client."""
import json

import numpy as np
import pandas as pd
import pytest

from app.config import Settings
from app.main import create_app
from workshop import synthetic
from workshop.data import FEATURES


def post(client, body, path="/predict", content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, data=data, content_type=content_type)


def test_seed_payload_gets_a_prediction(client, records, model_card):
    _, rows = records
    response = client.post("/predict", json=rows[0])  # what the seed lesson's requests.post(json=...) sends
    assert response.status_code == 200
    body = response.get_json()
    assert body["prediction"] in (0, 1)
    assert body["class_name"] == ("fraud" if body["prediction"] else "non_fraud")
    assert 0.0 <= body["fraud_probability"] <= 1.0
    assert body["model_version"] == model_card["version"]
    assert body["threshold"] == model_card["threshold"]
    assert response.headers["X-Request-ID"] == body["request_id"]


def test_prediction_matches_the_trained_pipeline(app, records):
    df, rows = records
    model = app.extensions["model"]
    client = app.test_client()
    expected = model.pipeline.predict_proba(df[model.features].iloc[:50])[:, 1]
    for row, p in zip(rows[:50], expected, strict=True):
        got = client.post("/predict", json=row).get_json()["fraud_probability"]
        assert got == pytest.approx(p, rel=1e-9, abs=1e-12)


def test_batch_matches_single_predictions(client, records):
    _, rows = records
    batch = client.post("/predict/batch", json={"records": rows[:20]}).get_json()
    singles = [client.post("/predict", json=r).get_json() for r in rows[:20]]
    assert batch["n"] == 20
    assert [p["fraud_probability"] for p in batch["predictions"]] == pytest.approx(
        [s["fraud_probability"] for s in singles])


def test_served_predictions_separate_the_classes(client):
    """Enough frauds for a stable estimate: the service flags far more frauds than legitimate records."""
    full = synthetic.generate(200_000, seed=3)  # ~345 frauds at the real base rate
    df = pd.concat([full[full["Class"] == 1].head(300), full[full["Class"] == 0].head(700)])
    body = client.post("/predict/batch", json={"records": df[FEATURES].to_dict(orient="records")}).get_json()
    flagged = np.array([p["prediction"] for p in body["predictions"]])
    recall = flagged[df["Class"].to_numpy() == 1].mean()
    false_positive_rate = flagged[df["Class"].to_numpy() == 0].mean()
    assert recall > 0.4, recall  # published LogisticRegression recall is ~0.6
    assert false_positive_rate < 0.01, false_positive_rate


def test_request_id_is_propagated(client, records):
    _, rows = records
    response = client.post("/predict", json=rows[0], headers={"X-Request-ID": "abc-123"})
    assert response.get_json()["request_id"] == "abc-123"
    assert response.headers["X-Request-ID"] == "abc-123"


def with_field(row, **changes):
    return {**row, **changes}


def without(row, name):
    return {k: v for k, v in row.items() if k != name}


BAD_INPUTS = [
    # (id, body-builder, content_type, status, reason)
    ("malformed_json", lambda r: b'{"V1": 1,', "application/json", 400, "invalid_json"),
    ("text_plain", lambda r: json.dumps(r), "text/plain", 415, "unsupported_media_type"),
    ("form", lambda r: "a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("list_body", lambda r: [r], "application/json", 400, "not_an_object"),
    ("missing_field", lambda r: without(r, "V14"), "application/json", 400, "missing_field"),
    ("extra_field", lambda r: with_field(r, Class=0), "application/json", 400, "extra_field"),
    ("string_number", lambda r: with_field(r, Amount="12.5"), "application/json", 400, "non_numeric"),
    ("null_value", lambda r: with_field(r, V3=None), "application/json", 400, "non_numeric"),
    ("bool_value", lambda r: with_field(r, V3=True), "application/json", 400, "non_numeric"),
    ("nan_literal", lambda r: json.dumps(r).replace(str(r["V1"]), "NaN", 1), "application/json", 400, "non_finite"),
    ("infinity_literal", lambda r: json.dumps(r).replace(str(r["V2"]), "-Infinity", 1), "application/json", 400,
     "non_finite"),
    ("overflowing_number", lambda r: json.dumps(r).replace(str(r["V4"]), "1e999", 1), "application/json", 400,
     "non_finite"),
    ("invalid_utf8", lambda r: b'{"V1": "\xff"}', "application/json", 400, "invalid_json"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_counted_4xx_json_error(client, scrape, records, case):
    _, build, content_type, status, reason = case
    row = records[1][0]
    before = scrape("invalid_requests_total", reason=reason)
    response = post(client, build(row), content_type=content_type)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == reason and body["message"]
    assert scrape("invalid_requests_total", reason=reason) == before + 1
    assert scrape("http_requests_total", endpoint="predict", method="POST", status=str(status)) >= 1
    assert client.post("/predict", json=row).status_code == 200  # the service keeps serving


def test_error_names_every_missing_field(client, records):
    row = without(without(records[1][0], "V1"), "Amount")
    body = client.post("/predict", json=row).get_json()
    assert body["fields"] == ["V1", "Amount"]


def test_oversized_body_is_413(model_dir, records):
    client = create_app(Settings(model_dir=model_dir, max_body_bytes=1000)).test_client()
    response = client.post("/predict/batch", json={"records": records[1][:20]})
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"


def test_batch_errors(client, records):
    rows = records[1]
    assert client.post("/predict/batch", json={"records": []}).get_json()["error"] == "empty_batch"
    assert client.post("/predict/batch", json=rows[:2]).get_json()["error"] == "not_an_object"
    bad = client.post("/predict/batch", json={"records": [rows[0], without(rows[1], "V2")]})
    assert bad.status_code == 400 and bad.get_json()["index"] == 1
    too_many = client.post("/predict/batch", json={"records": rows[:1001]})
    assert too_many.status_code == 413 and too_many.get_json()["error"] == "batch_too_large"


def test_unknown_route_and_wrong_method_are_json(client, scrape):
    assert client.get("/nope").get_json()["error"] == "not_found"
    response = client.get("/predict")
    assert response.status_code == 405 and response.get_json()["error"] == "method_not_allowed"
    assert scrape("invalid_requests_total", reason="method_not_allowed") == 1


def test_health_ready_and_missing_model(client, tmp_path, records):
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/ready").get_json()["status"] == "ready"
    empty = create_app(Settings(model_dir=tmp_path)).test_client()
    assert empty.get("/health").status_code == 200
    not_ready = empty.get("/ready")
    assert not_ready.status_code == 503 and "notebook 01" in not_ready.get_json()["reason"]
    response = empty.post("/predict", json=records[1][0])
    assert response.status_code == 503 and response.get_json()["error"] == "model_unavailable"


def test_metrics_after_requests(client, scrape, records, model_card):
    df, rows = records
    assert scrape("predictions_total", class_name="fraud") == 0  # series exist before the first fraud
    assert f"predictions_total{{class_name=\"fraud\",version=\"{model_card['version']}\"}}" in client.get("/metrics").get_data(as_text=True)
    client.post("/predict/batch", json={"records": rows[:300]})
    for row in rows[:10]:
        client.post("/predict", json=row)
    total = scrape("predictions_total", class_name="fraud") + scrape("predictions_total", class_name="non_fraud")
    assert total == 310
    assert scrape("prediction_latency_seconds_count") == 11
    assert scrape("prediction_latency_seconds_bucket", le="0.0001") <= scrape(
        "prediction_latency_seconds_bucket", le="10.0") == 11
    assert scrape("fraud_probability_count") == 310
    assert scrape("model_accuracy") == pytest.approx(model_card["metrics"]["accuracy"])
    assert scrape("model_heldout_score", metric="average_precision") == pytest.approx(
        model_card["metrics"]["average_precision"])
    assert scrape("model_info", version=model_card["version"]) == 1
    assert scrape("http_requests_total", endpoint="predict", method="POST", status="200") == 10


def test_one_json_log_line_per_request(client, records, capsys):
    _, rows = records
    capsys.readouterr()
    client.post("/predict", json=rows[0], headers={"X-Request-ID": "log-1"})
    client.post("/predict", json={"V1": 1})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    ok, bad = [entry for entry in lines if entry.get("event") == "request"]
    assert ok["request_id"] == "log-1" and ok["status"] == 200 and ok["class_name"] in ("fraud", "non_fraud")
    assert {"model_version", "fraud_probability", "latency_ms"} <= set(ok)
    assert bad["status"] == 400 and bad["error"] == "missing_field"


def test_unexpected_failure_is_a_json_500(app, records, caplog):
    app.extensions["model"].predict_proba = lambda rows: 1 / 0
    response = app.test_client().post("/predict", json=records[1][0])
    assert response.status_code == 500 and response.get_json()["error"] == "internal_error"


def test_faults_are_off_by_default(client):
    assert client.post("/admin/faults", json={"latency_seconds": 1}).status_code == 404


def test_faults_when_enabled(model_dir, records):
    app = create_app(Settings(model_dir=model_dir, enable_faults=True))
    client = app.test_client()
    row = records[1][0]
    assert client.post("/admin/faults", json={"error_rate": 1.0}).get_json()["error_rate"] == 1.0
    assert client.post("/predict", json=row).status_code == 500
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'fault_injection_active{fault="errors"} 1.0' in metrics
    assert client.post("/admin/faults", json={"error_rate": 2}).status_code == 400
    client.delete("/admin/faults")
    assert client.post("/predict", json=row).status_code == 200
    assert 'fault_injection_active{fault="errors"} 0.0' in client.get("/metrics").get_data(as_text=True)


def test_series_exist_at_zero_before_the_first_fraud_or_error(client):
    """rate() needs two samples of a series: one created by the first fraud or 400 would miss that event."""
    text = client.get("/metrics").get_data(as_text=True)
    version = client.application.extensions["model"].version
    for line in (f'predictions_total{{class_name="fraud",version="{version}"}} 0.0',
                 'http_requests_total{endpoint="predict",method="POST",status="400"} 0.0',
                 'http_requests_total{endpoint="predict",method="POST",status="500"} 0.0',
                 'invalid_requests_total{reason="missing_field"} 0.0'):
        assert line in text
