"""The feedback API (lesson 06): labels join logged predictions, once, durably, with a JSON error for every
mistake, and the confusion counters in /metrics equal what the store joined."""
import json
import sqlite3

import pytest
from helpers import metric_value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.feedback import MAX_LABELS


@pytest.fixture()
def scored(client, records):
    """Ten predictions (one batch of 8 + 2 singles): their ids, predictions and probabilities."""
    _, rows = records
    batch = client.post("/predict/batch", json={"records": rows[:8]}, headers={"X-Request-ID": "fb"}).get_json()
    out = {rid: (p["prediction"], p["fraud_probability"]) for rid, p in zip(batch["request_ids"],
                                                                         batch["predictions"], strict=True)}
    for i in (8, 9):
        body = client.post("/predict", json=rows[i], headers={"X-Request-ID": f"single-{i}"}).get_json()
        out[body["request_id"]] = (body["prediction"], body["fraud_probability"])
    return out


def label(client, request_id, value):
    return client.post("/feedback", json={"request_id": request_id, "label": value})


def metric(client, name, **labels):
    return metric_value(client.get("/metrics").get_data(as_text=True), name, **labels)


def test_a_label_joins_its_prediction_and_is_stored_on_disk(client, scored, feedback_db, model_card):
    request_id, (prediction, probability) = next(iter(scored.items()))
    response = label(client, request_id, 1)  # the prediction may still be buffered: the route flushes first
    assert response.status_code == 200 and response.get_json()["stored"] is True
    got = client.get(f"/feedback/{request_id}").get_json()
    assert got["label"] == 1 and got["prediction"] == prediction and got["fraud_probability"] == probability
    assert got["model_version"] == model_card["version"] and got["predicted_at"] <= got["labelled_at"]
    with sqlite3.connect(feedback_db) as db:  # the file itself, through another connection
        assert db.execute("SELECT label FROM labels WHERE request_id = ?", (request_id,)).fetchone() == (1,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_unknown_ids_bad_labels_repeats_and_conflicts(client, scored, model_card):
    version, (request_id, (prediction, _)) = model_card["version"], next(iter(scored.items()))
    predicted = ("non_fraud", "fraud")[prediction]
    unknown = label(client, "never-predicted", 0)
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_request"
    for bad in (2, -1, True, 1.0, "1", None):
        response = label(client, request_id, bad)
        assert response.status_code == 400 and response.get_json()["error"] == "bad_label", bad
    assert label(client, request_id, 0).status_code == 200
    again = label(client, request_id, 0)
    assert again.status_code == 200 and again.get_json()["stored"] is False  # idempotent
    conflict = label(client, request_id, 1)
    assert conflict.status_code == 409 and conflict.get_json()["error"] == "conflicting_label"
    assert client.get(f"/feedback/{request_id}").get_json()["label"] == 0  # the first label is kept
    assert metric(client, "model_feedback_total", version=version, predicted=predicted, actual="non_fraud") == 1
    assert metric(client, "model_feedback_duplicates_total") == 1
    assert metric(client, "model_feedback_rejected_total", reason="conflicting_label") == 1
    assert metric(client, "model_feedback_rejected_total", reason="unknown_request") == 1
    assert metric(client, "invalid_requests_total", reason="bad_label") == 6
    assert client.get("/feedback/never-predicted").status_code == 404


def test_a_batch_of_labels_reports_each_outcome_and_counts_the_confusion_matrix(client, scored, model_card):
    ids = list(scored)
    labels = [{"request_id": rid, "label": i % 2} for i, rid in enumerate(ids)]
    first = client.post("/feedback", json={"labels": labels[:6] + [{"request_id": "nope", "label": 1}]}).get_json()
    assert first == {"stored": 6, "duplicates": 0,
                     "errors": [{"index": 6, "request_id": "nope", "error": "unknown_request"}]}
    flipped = {"request_id": ids[0], "label": 1 - labels[0]["label"]}
    second = client.post("/feedback", json={"labels": labels + [flipped]}).get_json()
    assert second["stored"] == 4 and second["duplicates"] == 6
    assert second["errors"] == [{"index": 10, "request_id": ids[0], "error": "conflicting_label"}]
    names = ("non_fraud", "fraud")
    expected = {(p, a): 0 for p in names for a in names}
    for i, rid in enumerate(ids):
        expected[names[scored[rid][0]], names[i % 2]] += 1
    for (p, a), n in expected.items():
        assert metric(client, "model_feedback_total", version=model_card["version"], predicted=p, actual=a) == n
    assert metric(client, "model_labelled_fraud_probability_count", actual="fraud") == 5
    assert metric(client, "model_feedback_predictions_logged_total", version=model_card["version"]) == 10


@pytest.mark.parametrize("body, status, reason", [
    ({"labels": []}, 400, "empty_batch"),
    ({"labels": [{"request_id": "x", "label": 0}] * (MAX_LABELS + 1)}, 413, "batch_too_large"),
    ({"labels": {"request_id": "x", "label": 0}}, 400, "not_an_object"),
    ({"request_id": "x"}, 400, "missing_field"),
    ({"request_id": "x", "label": 1, "why": "chargeback"}, 400, "extra_field"),
    ({"request_id": "x y", "label": 1}, 400, "bad_request_id"),
    ({"request_id": 7, "label": 1}, 400, "bad_request_id"),
    ([{"request_id": "x", "label": 1}], 400, "not_an_object"),
])
def test_malformed_feedback_is_a_counted_json_4xx_and_stores_nothing(client, scored, body, status, reason):
    response = client.post("/feedback", json=body)
    assert response.status_code == status and response.get_json()["error"] == reason
    assert metric(client, "invalid_requests_total", reason=reason) == 1
    assert sum(metric(client, "model_feedback_total", predicted=p, actual=a)
               for p in ("fraud", "non_fraud") for a in ("fraud", "non_fraud")) == 0


labels_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
                           | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["request_id", "label", "labels", "x"]), inner,
                                             max_size=3), max_leaves=8)


@settings(deadline=None, derandomize=True, database=None, max_examples=300,
          suppress_health_check=list(HealthCheck))
@given(body=labels_json)
def test_generated_feedback_bodies_never_crash_the_service(app, body):
    client = app.test_client()
    response = client.post("/feedback", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 400, 404, 409, 413), (body, response.status_code)
    assert response.is_json and (response.status_code == 200 or "error" in response.get_json())
