"""The columnar batch format on /predict/batch: pandas' "split" orientation, strictly validated."""
import json

import pandas as pd
import pytest

from workshop.data import FEATURES


def split(df: pd.DataFrame) -> dict:
    return df.to_dict(orient="split", index=False)


def post_raw(client, text: str):
    return client.post("/predict/batch", data=text, content_type="application/json")


def test_columns_answer_like_records_in_any_column_order(client, records):
    df, rows = records
    reversed_features = FEATURES[::-1]  # any column order: the service reorders by name
    body = client.post("/predict/batch", json=split(df[reversed_features].head(50))).get_json()
    by_records = client.post("/predict/batch", json={"records": rows[:50]}).get_json()
    assert body["n"] == 50 and body["columns"] == ["prediction", "class_name", "fraud_probability"]
    answer = pd.DataFrame(body["data"], columns=body["columns"])
    assert answer["fraud_probability"].tolist() == [p["fraud_probability"] for p in by_records["predictions"]]
    assert answer["prediction"].tolist() == [p["prediction"] for p in by_records["predictions"]]
    assert set(answer["class_name"]) <= {"fraud", "non_fraud"}


def test_predictions_are_counted_per_record(client, scrape, records):
    df, _ = records
    before = scrape("predictions_total", class_name="fraud") + scrape("predictions_total", class_name="non_fraud")
    assert client.post("/predict/batch", json=split(df[FEATURES].head(123))).status_code == 200
    after = scrape("predictions_total", class_name="fraud") + scrape("predictions_total", class_name="non_fraud")
    assert after - before == 123


def bad_cases(df: pd.DataFrame):
    good = split(df.head(3))
    cols, data = good["columns"], good["data"]
    j = cols.index("V3")

    def with_value(value):
        return {"columns": cols, "data": [data[0], [*data[1][:j], value, *data[1][j + 1:]], data[2]]}

    yield "missing_column", {"columns": cols[:-1], "data": [r[:-1] for r in data]}, 400, "missing_field", None
    yield "extra_column", {"columns": [*cols, "Class"], "data": [[*r, 0] for r in data]}, 400, "extra_field", None
    yield "duplicate_column", {"columns": [*cols, "V3"], "data": [[*r, 1.0] for r in data]}, 400, "duplicate_key", None
    yield "short_row", {"columns": cols, "data": [data[0], data[1][:-1], data[2]]}, 400, "bad_row", 1
    yield "row_not_a_list", {"columns": cols, "data": [data[0], {"V1": 1}, data[2]]}, 400, "bad_row", 1
    yield "string_value", with_value("1.5"), 400, "non_numeric", 1
    yield "bool_value", with_value(True), 400, "non_numeric", 1
    yield "null_value", with_value(None), 400, "non_numeric", 1
    yield "nested_value", with_value([1.0]), 400, "non_numeric", 1
    yield "infinite_value", json.dumps(with_value(0.125)).replace("0.125", "1e999"), 400, "non_finite", 1
    yield "huge_integer", json.dumps(with_value(0.125)).replace("0.125", "9" * 400), 400, "out_of_range", 1
    yield "nan_literal", json.dumps(with_value(0.125)).replace("0.125", "NaN"), 400, "non_finite", None
    yield "empty", {"columns": cols, "data": []}, 400, "empty_batch", None
    yield "too_many_rows", {"columns": cols, "data": data[:1] * 1001}, 413, "batch_too_large", None
    yield "index_key", split(df.head(3)) | {"index": [0, 1, 2]}, 400, "not_an_object", None
    yield "columns_not_strings", {"columns": [1, *cols[1:]], "data": data}, 400, "not_an_object", None


CASE_NAMES = ["missing_column", "extra_column", "duplicate_column", "short_row", "row_not_a_list", "string_value",
              "bool_value", "null_value", "nested_value", "infinite_value", "huge_integer", "nan_literal", "empty",
              "too_many_rows", "index_key", "columns_not_strings"]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_columnar_batches_are_counted_4xx_naming_row_and_column(client, scrape, records, case):
    cases = {c[0]: c for c in bad_cases(records[0][FEATURES])}
    assert list(cases) == CASE_NAMES
    name, body, status, reason, row = cases[case]
    before = scrape("invalid_requests_total", reason=reason)
    response = post_raw(client, body if isinstance(body, str) else json.dumps(body))
    assert response.status_code == status, (name, response.get_json())
    answer = response.get_json()
    assert answer["error"] == reason and answer["message"], name
    if row is not None:
        assert answer["index"] == row and f"data[{row}]" in answer["message"], name
    if reason in ("non_numeric", "non_finite") and row is not None:
        assert answer["fields"] == ["V3"] and "(V3)" in answer["message"], name
    assert scrape("invalid_requests_total", reason=reason) == before + 1
