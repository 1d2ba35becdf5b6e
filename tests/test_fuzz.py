"""Generated input (hypothesis): whatever a client sends, the answer is a 2xx/4xx with a JSON body, every 4xx is
counted under a pre-created reason, and the service keeps answering /health.

Bodies cover arbitrary JSON of any depth, size and numeric range, valid records and batches with one value
replaced, raw byte tricks Python's json module mishandles (NaN, 1e999, 400-digit integers, 100,000 nested
brackets, duplicate keys, lone surrogates, non-UTF-8 bytes), odd content types, every endpoint and method.
About 1,300 generated requests in total, derandomized so CI runs the same cases every time.
"""
import io
import json
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.main import create_app
from app.metrics import INVALID_REASONS
from workshop.data import FEATURES

MAX_BODY = 100_000     # small limits so that generated bodies reach them
MAX_RECORDS = 20
FUZZ = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))

PATHS = ["/predict", "/predict/batch", "/health", "/ready", "/metrics", "/openapi.json", "/admin/faults",
         "/", "/nope", "/predict/", "/predict/batch/1", "/metrics/x", "/admin"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
CONTENT_TYPES = st.sampled_from([
    "application/json", "APPLICATION/JSON", "application/json; charset=utf-8", "application/json;charset=UTF-8",
    'application/json; charset="utf-8"', "application/json; charset=latin-1", "application/json; charset=utf-16",
    "application/json; boundary=x", "text/json", "application/problem+json", "text/plain", "",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json;;;", "*/*",
]) | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)

numbers = (st.integers() | st.integers(-10**400, 10**400) | st.floats(allow_nan=False, allow_infinity=False)
           | st.floats(-1e308, 1e308))
scalars = st.none() | st.booleans() | numbers | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=30)
RAW_TRICKS = st.sampled_from([
    "NaN", "-Infinity", "Infinity", "1e999", "-1e99999999", "9" * 400, "-" + "9" * 5000, "1e-99999", "0.0",
    '"\\ud800"', '"\\udfff\\ud800"', '{"a": 1, "a": 2}', "[]", "{}", "null", "true", '"1.5"', "1.5.5", "01",
    "[" * 100_000 + "]" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000, "[" * 900 + "]" * 900,
])


def splice(text: str, token: str, at: int) -> str:
    at = at % (len(text) + 1)
    return text[:at] + token + text[at:]


@st.composite
def raw_bodies(draw) -> bytes:
    """Bytes: plain JSON, JSON with a trick spliced in, or arbitrary bytes."""
    kind = draw(st.sampled_from(["json", "trick", "spliced", "bytes", "huge"]))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "trick":
        return draw(RAW_TRICKS).encode("utf-8", "surrogatepass")
    if kind == "spliced":
        return splice(json.dumps(draw(json_values)), draw(RAW_TRICKS), draw(st.integers(0, 10**6))).encode()
    if kind == "huge":  # around the body limit
        size = draw(st.integers(MAX_BODY - 5, MAX_BODY + 5))
        return ('{"x": "' + "a" * max(size - 9, 0) + '"}').encode()[:size]
    return draw(st.binary(max_size=300)) + draw(st.sampled_from([b"", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]))


def base_record(rng_seed: int) -> dict:
    rng = random.Random(rng_seed)
    return {name: rng.gauss(0, 1) for name in FEATURES}


VALUE_TRICKS = st.sampled_from(["NaN", "Infinity", "1e999", "9" * 400, "true", "null", '"1"', "[1]", "{}",
                                '"\\ud800"', "1e-400", "-0.0", "12345678901234567890"])


@st.composite
def record_texts(draw) -> str:
    """A valid record as JSON text with one value, key or the whole shape changed."""
    record = base_record(draw(st.integers(0, 1000)))
    change = draw(st.sampled_from(["value", "raw_value", "drop", "add", "duplicate", "none"]))
    name = draw(st.sampled_from(FEATURES))
    if change == "value":
        record[name] = draw(json_values)
    elif change == "drop":
        del record[name]
    elif change == "add":
        record[draw(st.text(max_size=30))] = draw(scalars)
    text = json.dumps(record)
    if change == "raw_value":
        text = text.replace(json.dumps(name) + ": " + json.dumps(record[name]), json.dumps(name) + ": "
                            + draw(VALUE_TRICKS), 1)
    elif change == "duplicate":
        text = text[:-1] + f', {json.dumps(name)}: 0.5}}'
    return text


@st.composite
def batch_texts(draw) -> str:
    n = draw(st.integers(0, MAX_RECORDS + 2))
    changed = draw(st.booleans())
    records = [json.loads(draw(record_texts())) if changed and draw(st.booleans()) else base_record(i)
               for i in range(n)]
    if draw(st.booleans()):
        return json.dumps({"records": records}) if draw(st.integers(0, 9)) else json.dumps(records)
    columns = list(FEATURES)
    data = [[r.get(c, 0.0) for c in columns] for r in records if isinstance(r, dict)]
    change = draw(st.sampled_from(["none", "value", "raw_value", "row", "columns", "shape"]))
    if change == "value" and data:
        data[draw(st.integers(0, len(data) - 1))][draw(st.integers(0, len(columns) - 1))] = draw(json_values)
    elif change == "row" and data:
        data[draw(st.integers(0, len(data) - 1))] = draw(json_values)
    elif change == "columns":
        columns = draw(st.permutations(FEATURES).map(list) | st.lists(st.text(max_size=5), max_size=31)
                       | st.just([*FEATURES, "V1"]))
    elif change == "shape":
        return json.dumps({"columns": columns, "data": data, draw(st.text(max_size=8)): draw(scalars)})
    text = json.dumps({"columns": columns, "data": data})
    if change == "raw_value" and data:
        text = text.replace(json.dumps(data[-1][-1]), draw(VALUE_TRICKS), 1)
    return text


SENT = Counter()  # generated requests per test
PLANNED = {"anywhere": 500, "predict": 300, "batch": 400, "faults": 150}


@pytest.fixture(scope="module", autouse=True)
def enough_generated_cases():
    """When all four generated suites ran, they sent at least the planned 1,350 requests (>= 1,000)."""
    yield
    if set(SENT) == set(PLANNED):
        assert all(SENT[name] >= PLANNED[name] for name in PLANNED), SENT
        print(f"generated requests: {dict(SENT)}, total {sum(SENT.values())}")
        assert sum(SENT.values()) >= 1000


@pytest.fixture(scope="module")
def fuzz_app(model_dir):
    return create_app(Settings(model_dir=model_dir, enable_faults=True, max_body_bytes=MAX_BODY,
                               max_batch_records=MAX_RECORDS, log_requests=True))


def invalid_count(app, reason: str) -> float:
    return app.extensions["metrics"].registry.get_sample_value("invalid_requests_total", {"reason": reason}) or 0.0


def check(app, method: str, path: str, body: bytes | str, content_type: str | None):
    """Send one request; assert the contract; return the response."""
    client = app.test_client()
    headers = {} if content_type is None else {"Content-Type": content_type}
    before = {reason: invalid_count(app, reason) for reason in INVALID_REASONS}
    response = client.open(path, method=method, data=body, headers=headers)
    if path == "/admin/faults":
        client.delete("/admin/faults")  # never leave an injected latency or error rate behind
    status = response.status_code
    assert 200 <= status < 500, (status, response.get_data()[:300])
    if method != "HEAD" and not (path == "/metrics" and status == 200):
        answer = response.get_json(silent=True)
        assert isinstance(answer, dict), (status, response.get_data()[:300])
        if status >= 400:
            reason = answer["error"]
            assert reason in INVALID_REASONS and answer["message"], answer
            assert invalid_count(app, reason) == before[reason] + 1, reason
    assert client.get("/health").get_json() == {"status": "ok"}
    return response


@pytest.mark.slow
@settings(FUZZ, max_examples=500)
@given(method=st.sampled_from(METHODS), path=st.sampled_from(PATHS), body=raw_bodies(),
       content_type=CONTENT_TYPES | st.none())
def test_any_request_anywhere_is_answered_2xx_or_4xx_in_json(fuzz_app, method, path, body, content_type):
    SENT["anywhere"] += 1
    check(fuzz_app, method, path, body, content_type)


@pytest.mark.slow
@settings(FUZZ, max_examples=300)
@given(body=record_texts(), content_type=st.sampled_from(["application/json", "Application/JSON; charset=utf-8"]))
def test_predict_with_any_changed_record(fuzz_app, body, content_type):
    SENT["predict"] += 1
    response = check(fuzz_app, "POST", "/predict", body, content_type)
    if response.status_code == 200:
        assert 0.0 <= response.get_json()["fraud_probability"] <= 1.0


@pytest.mark.slow
@settings(FUZZ, max_examples=400)
@given(body=batch_texts())
def test_batch_with_any_changed_record_row_or_column(fuzz_app, body):
    SENT["batch"] += 1
    response = check(fuzz_app, "POST", "/predict/batch", body, "application/json")
    if response.status_code == 200:
        assert 1 <= response.get_json()["n"] <= MAX_RECORDS


@pytest.mark.slow
@settings(FUZZ, max_examples=150)
@given(body=st.dictionaries(st.sampled_from(["latency_seconds", "error_rate", "other"]), json_values, max_size=3)
       .map(json.dumps) | raw_bodies())
def test_admin_faults_with_any_settings(fuzz_app, body):
    SENT["faults"] += 1
    check(fuzz_app, "POST", "/admin/faults", body, "application/json")


def test_body_exactly_at_the_limit_is_read_and_one_byte_more_is_413(fuzz_app):
    at_limit = ('{"x": "' + "a" * (MAX_BODY - 9) + '"}').encode()
    assert len(at_limit) == MAX_BODY
    assert check(fuzz_app, "POST", "/predict", at_limit, "application/json").get_json()["error"] == "missing_field"
    over = check(fuzz_app, "POST", "/predict", at_limit + b" ", "application/json")
    assert over.status_code == 413 and over.get_json()["error"] == "payload_too_large"


@pytest.mark.parametrize("extra,status,reason", [(b"", 400, "missing_field"), (b"x", 413, "payload_too_large")])
def test_a_streamed_body_is_not_cut_at_the_limit(fuzz_app, extra, status, reason):
    """Chunked bodies have no Content-Length; werkzeug stops reading at the limit without an error, so the
    first MAX_BODY bytes (valid JSON here) would be scored and the rest silently dropped."""
    body = b'{"V1": 1}' + b" " * (MAX_BODY - 9) + extra
    response = fuzz_app.test_client().post(
        "/predict", input_stream=io.BytesIO(body), environ_overrides={"wsgi.input_terminated": True},
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    assert (response.status_code, response.get_json()["error"]) == (status, reason)
