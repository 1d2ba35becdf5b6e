"""Turn a request body into model input, or a client error that says exactly what is wrong.

Nothing is coerced or dropped: a string "1.5" is not a number, an unknown field is an error, a key
given twice is an error (Python's json module silently keeps the last one), NaN and Infinity are
refused (JSON has no such literals; Python's json module accepts them), 1e999 (a float infinity) too,
and values beyond +-1e15 (an integer with 400 digits would even crash float()). The body must be UTF-8
(RFC 8259); any nesting depth is answered with a 400, never a crash. Error messages quote values short.
"""
import json
import math
import reprlib
from itertools import chain

import numpy as np
from werkzeug.http import parse_options_header

JSON_TYPE = "application/json"
MAX_ABS = 1e15  # |feature| limit: far beyond any real transaction, exact as a float and as a decimal
_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxother, _short.maxlist, _short.maxdict = 2, 40, 40, 4, 4


def shown(value) -> str:
    """A client value quoted for an error message: short, never recursing deeply (repr escapes surrogates)."""
    return _short.repr(value)


def client_key(key: str) -> str:
    """A client's field name for the `fields` list: at most 40 characters, lone surrogates escaped."""
    key = key if len(key) <= 40 else key[:40] + "..."
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


class RequestError(Exception):
    """A client mistake: becomes a 4xx JSON response and is counted by reason."""

    def __init__(self, status: int, reason: str, message: str, **details):
        super().__init__(message)
        self.status, self.reason, self.message, self.details = status, reason, message, details

    def body(self) -> dict:
        return {"error": self.reason, "message": self.message, **self.details}


def _refuse_constant(name: str):
    raise RequestError(400, "non_finite", f"{name} is not a valid JSON number")


def _unique_keys(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise RequestError(400, "duplicate_key", f"key {shown(twice)} appears twice in one object",
                           fields=[client_key(twice)])
    return obj


def parse_json(content_type: str | None, raw: bytes):
    mimetype, options = parse_options_header(content_type or "")
    if mimetype != JSON_TYPE:  # werkzeug lowercases the media type: APPLICATION/JSON is JSON
        raise RequestError(415, "unsupported_media_type",
                           f"Content-Type must be application/json, got {shown(content_type or 'none')}")
    charset = options.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise RequestError(415, "unsupported_media_type", f"JSON must be UTF-8, not charset {shown(charset)}")
    if not raw.strip():
        raise RequestError(400, "invalid_json", "body is empty: send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, "invalid_json", f"body is not UTF-8: byte {exc.start} is invalid") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise RequestError(400, "too_deep", "JSON nested too deeply (the service expects flat records)") from None
    except ValueError as exc:  # JSONDecodeError, or an integer longer than Python's 4300-digit limit
        raise RequestError(400, "invalid_json", f"body is not valid JSON: {shown(str(exc))}") from None


def number(value, where: str, name: str) -> float:
    """A JSON number within +-MAX_ABS as a float; bool, string, null, list and object are errors."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(400, "non_numeric", f"{where}: field {name} must be a number, got {shown(value)}",
                           fields=[name])
    if isinstance(value, float) and not math.isfinite(value):  # 1e999 parses as inf
        raise RequestError(400, "non_finite", f"{where}: field {name} must be finite", fields=[name])
    if abs(value) > MAX_ABS:  # exact for integers too (10**400 would overflow float())
        raise RequestError(400, "out_of_range", f"{where}: field {name} is {shown(value)}, beyond +-{MAX_ABS:g}",
                           fields=[name])
    return float(value)


def record_to_row(record, features: list[str], where: str = "body") -> list[float]:
    """Validate one record (a JSON object with exactly `features`) and return its values (numbers) in order."""
    if not isinstance(record, dict):
        raise RequestError(400, "not_an_object", f"{where} must be a JSON object with fields {features[0]}..{features[-1]}")
    missing = [name for name in features if name not in record]
    if missing:
        raise RequestError(400, "missing_field", f"{where}: missing fields: {', '.join(missing)}", fields=missing)
    extra = sorted(set(record) - set(features))
    if extra:
        raise RequestError(400, "extra_field", f"{where}: {len(extra)} unknown fields: "
                           f"{', '.join(map(shown, extra[:10]))}", fields=[client_key(k) for k in extra[:10]])
    values = [record[name] for name in features]
    if set(map(type, values)) <= {int, float} and all(-MAX_ABS <= v <= MAX_ABS for v in values):
        return values  # the usual case, checked at once (NaN and inf fail the comparison; bool is not int here)
    return [number(value, where, name) for value, name in zip(values, features, strict=True)]  # which is bad?


def check_size(n: int, max_records: int) -> None:
    if n == 0:
        raise RequestError(400, "empty_batch", "the batch has no records")
    if n > max_records:
        raise RequestError(413, "batch_too_large", f"{n} records; at most {max_records} per batch",
                           max_records=max_records)


def batch_format(payload) -> str:
    """ "records" or "columns" (pandas' to_dict orient names); anything else is an error."""
    if isinstance(payload, dict) and set(payload) == {"columns", "data"}:
        return "columns"
    if isinstance(payload, dict) and set(payload) == {"records"} and isinstance(payload["records"], list):
        return "records"
    raise RequestError(400, "not_an_object", 'batch body must be {"records": [record, ...]} or '
                       '{"columns": [name, ...], "data": [[value, ...], ...]}')


def batch_to_rows(payload, features: list[str], max_records: int) -> np.ndarray:
    """A batch is {"records": [record, ...]} or {"columns": [...], "data": [[...], ...]}.

    One bad record rejects the whole batch, and the error names its index (and column)."""
    if batch_format(payload) == "columns":
        return columns_to_rows(payload["columns"], payload["data"], features, max_records)
    records = payload["records"]
    check_size(len(records), max_records)
    rows = []
    for i, record in enumerate(records):
        try:
            rows.append(record_to_row(record, features, where=f"records[{i}]"))
        except RequestError as exc:
            exc.details["index"] = i
            raise
    return np.asarray(rows, dtype=np.float64)


def check_columns(columns, features: list[str]) -> None:
    """The header of a columnar batch: field names, each once, exactly the model's features."""
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise RequestError(400, "not_an_object", "columns must be a list of field names")
    if len(set(columns)) != len(columns):
        twice = next(c for i, c in enumerate(columns) if c in columns[:i])
        raise RequestError(400, "duplicate_key", f"column {shown(twice)} appears twice", fields=[client_key(twice)])
    missing = [name for name in features if name not in columns]
    if missing:
        raise RequestError(400, "missing_field", f"columns: missing fields: {', '.join(missing)}", fields=missing)
    extra = [c for c in columns if c not in features]
    if extra:
        raise RequestError(400, "extra_field", f"columns: {len(extra)} unknown fields: "
                           f"{', '.join(map(shown, extra[:10]))}", fields=[client_key(c) for c in extra[:10]])


def columns_to_rows(columns, data, features: list[str], max_records: int) -> np.ndarray:
    """pandas' "split" orientation (df.to_dict(orient="split", index=False)), checked in one numpy pass."""
    check_columns(columns, features)
    if not isinstance(data, list):
        raise RequestError(400, "not_an_object", "data must be a list of rows (lists of numbers)")
    check_size(len(data), max_records)
    width = len(columns)
    if set(map(type, data)) != {list} or set(map(len, data)) != {width}:
        i = next(i for i, row in enumerate(data) if type(row) is not list or len(row) != width)
        got = f"{len(data[i])} values" if type(data[i]) is list else shown(data[i])
        raise RequestError(400, "bad_row", f"data[{i}] must be a list of {width} numbers, got {got}", index=i)
    if not set(map(type, chain.from_iterable(data))) <= {float, int}:  # bool, str, None, list, dict
        i, j = next((i, j) for i, row in enumerate(data) for j, v in enumerate(row) if type(v) not in (float, int))
        raise RequestError(400, "non_numeric", f"data[{i}][{j}] ({columns[j]}) must be a number, got "
                           f"{shown(data[i][j])}", fields=[columns[j]], index=i)
    try:
        values = np.array(data, dtype=np.float64)
    except OverflowError:  # an integer beyond 1.8e308: located below as out of range
        values = np.array([[v if type(v) is float or abs(v) <= MAX_ABS else (math.inf if v > 0 else -math.inf) for v in row]
                           for row in data])
    finite, inside = np.isfinite(values), np.abs(values) <= MAX_ABS
    if not inside.all():
        i, j = (int(k) for k in np.argwhere(~inside)[0])
        reason, limit = ("non_finite", "finite") if type(data[i][j]) is float and not finite[i, j] \
            else ("out_of_range", f"within +-{MAX_ABS:g}")
        raise RequestError(400, reason, f"data[{i}][{j}] ({columns[j]}) must be {limit}, got {shown(data[i][j])}",
                           fields=[columns[j]], index=i)
    return np.ascontiguousarray(values[:, [columns.index(name) for name in features]])  # same sums as records
