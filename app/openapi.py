"""The API contract as an OpenAPI 3.1 document, served at /openapi.json and tested with schemathesis.

Built from the served model's feature names and the service's limits, so it cannot drift from what the
validation code enforces: exactly these fields, finite numbers, at most max_batch_records rows.
"""
from app.metrics import INVALID_REASONS
from app.validation import MAX_ABS


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    meaning = {400: "invalid input (the error names the field, row or column)", 404: "no such path",
               405: "method not allowed", 413: "body larger than the limit, or too many rows",
               415: "Content-Type is not application/json (UTF-8)", 500: "server failure (see logs)",
               503: "no model loaded (see /ready)"}
    return {str(code): _json(_ref("Error"), meaning[code]) for code in codes}


def _request_schemas(features: list[str] | None, max_batch_records: int) -> dict:
    """What a client may send: one record, or a batch of them in either of pandas' orientations."""
    number = {"type": "number", "minimum": -MAX_ABS, "maximum": MAX_ABS}
    if features:
        record = {"type": "object", "properties": {name: number for name in features},
                  "required": list(features), "additionalProperties": False}
        column_names = {"type": "array", "items": {"enum": list(features)}, "uniqueItems": True,
                        "minItems": len(features), "maxItems": len(features)}
        row = {"type": "array", "items": number, "minItems": len(features), "maxItems": len(features)}
    else:  # no model loaded: every prediction answers 503
        record = {"type": "object", "additionalProperties": number}
        column_names, row = {"type": "array", "items": {"type": "string"}}, {"type": "array", "items": number}
    rows = {"minItems": 1, "maxItems": max_batch_records}
    return {
        "Record": record,
        "RecordsBatch": {"type": "object", "required": ["records"], "additionalProperties": False,
                         "properties": {"records": {"type": "array", "items": _ref("Record"), **rows}}},
        "ColumnsBatch": {"type": "object", "required": ["columns", "data"], "additionalProperties": False,
                         "description": 'pandas\' "split" orientation: df.to_dict(orient="split", index=False)',
                         "properties": {"columns": column_names, "data": {"type": "array", "items": row, **rows}}},
    }


def _answer_schemas() -> dict:
    """What the service answers: a prediction, a batch in the format of the question, or an Error."""
    prediction = {"prediction": {"enum": [0, 1]}, "class_name": {"enum": ["non_fraud", "fraud"]},
                  "fraud_probability": {"type": "number", "minimum": 0, "maximum": 1}}
    served = {"n": {"type": "integer", "minimum": 1}, "threshold": {"type": "number"},
              "model_version": {"type": "string"}, "request_id": {"type": "string"}}
    ids = {"request_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                           "description": "each record's own id, \"<request_id>:<index>\" (for POST /feedback)"}}
    return {
        "Prediction": {"type": "object", "properties": {**prediction, **served},
                       "required": [*prediction, "threshold", "model_version", "request_id"]},
        "RecordsAnswer": {"type": "object", "required": ["predictions", *served, *ids], "properties": {**ids,
            "predictions": {"type": "array", "items": {"type": "object", "properties": prediction,
                                                       "required": list(prediction)}}, **served}},
        "ColumnsAnswer": {"type": "object", "required": ["columns", "data", *served, *ids], "properties": {**ids,
            "columns": {"const": list(prediction)},
            "data": {"type": "array", "items": {"type": "array", "minItems": 3, "maxItems": 3,
                                                "prefixItems": list(prediction.values())}}, **served}},
        "Error": {"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string", "description": "reason; 4xx reasons are counted in "
                      f"invalid_requests_total{{reason}}: {', '.join(INVALID_REASONS)}"},
            "message": {"type": "string"}, "request_id": {"type": ["string", "null"]},
            "fields": {"type": "array", "items": {"type": "string"}},
            "index": {"type": "integer", "description": "the offending record / row of a batch"},
            "max_records": {"type": "integer"}}},
    }


def _prediction_paths(max_batch_records: int) -> dict:
    request_id = {"name": "X-Request-ID", "in": "header", "required": False,
                  "description": "echoed back; generated when absent or not [A-Za-z0-9._-]{1,64}",
                  "schema": {"type": "string"}}
    return {
        "/predict": {"post": {
            "summary": "score one transaction", "parameters": [request_id],
            "requestBody": _body(_ref("Record")),
            "responses": {"200": _json(_ref("Prediction"), "the prediction"),
                          **_errors(400, 405, 413, 415, 500, 503)}}},
        "/predict/batch": {"post": {
            "summary": f"score up to {max_batch_records} transactions; the answer has the request's format",
            "parameters": [request_id],
            "requestBody": _body({"oneOf": [_ref("RecordsBatch"), _ref("ColumnsBatch")]}),
            "responses": {"200": _json({"oneOf": [_ref("RecordsAnswer"), _ref("ColumnsAnswer")]}, "predictions"),
                          **_errors(400, 405, 413, 415, 500, 503)}}},
    }


def _service_paths() -> dict:
    return {
        "/health": {"get": {"summary": "liveness", "responses": {
            "200": _json({"type": "object", "properties": {"status": {"const": "ok"}}, "required": ["status"]},
                         "the process answers")}}},
        "/ready": {"get": {"summary": "readiness: a model is loaded", "responses": {
            "200": _json({"type": "object", "required": ["status"], "properties": {
                "status": {"const": "ready"}, "model_version": {"type": "string"}}}, "ready"),
            "503": _json({"type": "object", "required": ["status"], "properties": {
                "status": {"const": "not_ready"}, "reason": {"type": ["string", "null"]}}}, "no model")}}},
        "/metrics": {"get": {"summary": "Prometheus text exposition format", "responses": {
            "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "this document", "responses": {
            "200": _json({"type": "object"}, "OpenAPI 3.1")}}},
    }


def _fault_paths() -> dict:
    """/admin/faults, which exists only when the alerting lesson's faults are enabled."""
    settings = {"type": "object", "additionalProperties": False, "properties": {
        "latency_seconds": {"type": "number", "minimum": 0, "maximum": 30},
        "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "version": {"type": "string", "description": "only this model version's requests; empty: all"}}}
    answer = _json({**settings, "required": list(settings["properties"])}, "the faults now active")
    return {"/admin/faults": {
        "get": {"summary": "lesson faults now active", "responses": {"200": answer}},
        "post": {"summary": "switch lesson faults on", "requestBody": _body(settings),
                 "responses": {"200": answer, **_errors(400, 413, 415)}},
        "delete": {"summary": "switch lesson faults off", "responses": {"200": answer}}}}


def openapi_document(features: list[str] | None, max_batch_records: int, max_body_bytes: int,
                     faults: bool = False, version: str = "unknown") -> dict:
    paths = {**_prediction_paths(max_batch_records), **_service_paths(), **(_fault_paths() if faults else {})}
    return {"openapi": "3.1.0",
            "info": {"title": "Fraud model service", "version": version,
                     "description": f"Bodies up to {max_body_bytes} bytes of UTF-8 JSON. Every client mistake "
                                    "is a 4xx with an Error body, counted in invalid_requests_total{reason}."},
            "paths": paths,
            "components": {"schemas": {**_request_schemas(features, max_batch_records), **_answer_schemas()}}}
