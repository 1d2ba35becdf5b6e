"""The OpenAPI document at /openapi.json, and schemathesis generating requests from it against the app (WSGI).

Every generated case must get a documented status (never a 5xx) with a body conforming to the documented
schema; for bodies the schema calls invalid, the app must answer 4xx.
"""
import re
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config._checks import NegativeDataRejectionConfig  # not re-exported in schemathesis 4.32

from app.config import Settings
from app.main import create_app


@pytest.fixture(scope="module")
def api_app(model_dir):
    return create_app(Settings(model_dir=model_dir, enable_faults=True, log_requests=False))


@pytest.fixture(scope="module")
def api_schema(api_app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api_app)
    # Too many records or labels is a documented 413 batch_too_large: a rejection, like a 400.
    checks = schema.config.checks
    checks.negative_data_rejection = NegativeDataRejectionConfig(
        expected_statuses=[*checks.negative_data_rejection.expected_statuses, "413"])
    return schema


def test_the_document_describes_every_route_and_both_batch_formats(api_app):
    doc = api_app.test_client().get("/openapi.json").get_json()
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # Flask's <id> is OpenAPI's {id}
              for rule in api_app.url_map.iter_rules() if rule.endpoint != "static"}
    assert set(doc["paths"]) == routes
    batch = doc["paths"]["/predict/batch"]["post"]
    assert {"400", "413", "415"} <= set(batch["responses"])
    components = doc["components"]["schemas"]
    assert components["ColumnsBatch"]["properties"]["data"]["maxItems"] == 1000
    assert components["Record"]["required"] == api_app.extensions["model"].features


@pytest.mark.slow
@pytest.mark.parametrize("mode,examples", [(GenerationMode.POSITIVE, 300), (GenerationMode.NEGATIVE, 200)],
                         ids=["valid", "invalid"])
def test_generated_requests_conform_to_the_schema(api_app, api_schema, mode, examples):
    seen = Counter()

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=api_schema.as_strategy(generation_mode=mode))
    def run(case):
        seen[f"{case.method} {case.path}"] += 1
        try:
            case.call_and_validate()
        finally:
            api_app.test_client().delete("/admin/faults")  # a generated fault must not leak into the next case

    run()
    assert sum(seen.values()) >= examples * 0.9, seen
    assert {"POST /predict", "POST /predict/batch"} <= set(seen), seen
