"""Turn a request body into model input, or a client error that says exactly what is wrong.

Nothing is coerced or dropped: a string "1.5" is not a number, an unknown field is an error,
NaN and Infinity are refused (JSON has no such literals; Python's json module accepts them).
"""
import json
import math

JSON_TYPES = ("application/json",)


class RequestError(Exception):
    """A client mistake: becomes a 4xx JSON response and is counted by reason."""

    def __init__(self, status: int, reason: str, message: str, **details):
        super().__init__(message)
        self.status, self.reason, self.message, self.details = status, reason, message, details

    def body(self) -> dict:
        return {"error": self.reason, "message": self.message, **self.details}


def _refuse_constant(name: str):
    raise RequestError(400, "non_finite", f"{name} is not a valid JSON number")


def parse_json(content_type: str | None, raw: bytes):
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if mimetype not in JSON_TYPES:
        raise RequestError(415, "unsupported_media_type",
                           f"Content-Type must be application/json, got {content_type or 'none'!r}")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RequestError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, "invalid_json", f"body is not valid JSON: {exc}") from None


def record_to_row(record, features: list[str], where: str = "body") -> list[float]:
    """Validate one record (a JSON object with exactly `features`) and return its values in order."""
    if not isinstance(record, dict):
        raise RequestError(400, "not_an_object", f"{where} must be a JSON object with fields {features[0]}..{features[-1]}")
    missing = [name for name in features if name not in record]
    if missing:
        raise RequestError(400, "missing_field", f"{where}: missing fields: {', '.join(missing)}", fields=missing)
    extra = sorted(set(record) - set(features))
    if extra:
        raise RequestError(400, "extra_field", f"{where}: unknown fields: {', '.join(extra)}", fields=extra)
    row = []
    for name in features:
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RequestError(400, "non_numeric", f"{where}: field {name} must be a number, got {value!r}",
                               fields=[name])
        value = float(value)
        if not math.isfinite(value):
            raise RequestError(400, "non_finite", f"{where}: field {name} must be finite", fields=[name])
        row.append(value)
    return row


def batch_to_rows(payload, features: list[str], max_records: int) -> list[list[float]]:
    """A batch is {"records": [record, ...]}; one bad record rejects the batch and names its index."""
    if not isinstance(payload, dict) or set(payload) != {"records"} or not isinstance(payload["records"], list):
        raise RequestError(400, "not_an_object", 'batch body must be {"records": [record, ...]}')
    records = payload["records"]
    if not records:
        raise RequestError(400, "empty_batch", "records is empty")
    if len(records) > max_records:
        raise RequestError(413, "batch_too_large", f"{len(records)} records; at most {max_records} per batch",
                           max_records=max_records)
    rows = []
    for i, record in enumerate(records):
        try:
            rows.append(record_to_row(record, features, where=f"records[{i}]"))
        except RequestError as exc:
            exc.details["index"] = i
            raise
    return rows
