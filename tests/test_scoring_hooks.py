"""The after-scoring hook contract (app.main.Scored): what lessons 05-07 plug into the service receives, per
record, the id the client can quote back (POST /feedback), the model version that scored, the probability and
the prediction — for /predict and for both batch formats."""
import numpy as np

from app.main import Scored
from workshop.data import FEATURES


def capture(app) -> list[Scored]:
    seen: list[Scored] = []
    app.extensions["service"].after_scoring.append(seen.append)
    return seen


def test_a_single_prediction_hands_its_request_id_version_probability_and_prediction(app, records):
    seen = capture(app)
    body = app.test_client().post("/predict", json=records[1][0], headers={"X-Request-ID": "one-1"}).get_json()
    (scored,) = seen
    assert scored.request_ids == ["one-1"] == [body["request_id"]]
    assert scored.model_version == body["model_version"] and scored.threshold == body["threshold"]
    assert scored.probabilities.tolist() == [body["fraud_probability"]]
    assert scored.predictions.tolist() == [body["prediction"]] and scored.inputs.shape == (1, 30)


def test_a_batch_gives_each_record_its_own_id_in_the_answer_and_the_hook(app, records):
    df, rows = records
    seen = capture(app)
    client = app.test_client()
    as_records = client.post("/predict/batch", json={"records": rows[:5]}, headers={"X-Request-ID": "b7"}).get_json()
    as_columns = client.post("/predict/batch", json=df[FEATURES].iloc[:5].to_dict(orient="split", index=False)).get_json()
    assert as_records["request_ids"] == [f"b7:{i}" for i in range(5)] == seen[0].request_ids
    assert as_columns["request_ids"] == [f"{as_columns['request_id']}:{i}" for i in range(5)] == seen[1].request_ids
    assert seen[0].predictions.tolist() == [p["prediction"] for p in as_records["predictions"]]
    assert np.allclose(seen[1].probabilities, [row[2] for row in as_columns["data"]])
    assert len(set(as_records["request_ids"])) == 5  # distinct: a label names exactly one record


def test_a_rejected_request_reaches_no_hook(app):
    seen = capture(app)
    assert app.test_client().post("/predict", json={"V1": 1}).status_code == 400
    assert seen == []
