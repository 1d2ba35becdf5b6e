"""The request line written straight to stdout has the logger's format (whole lines from every worker:
tests/test_production.py parses them all), and fresh request ids sort by time."""
import json
import logging

from app.logs import get_logger, log_event, log_request
from app.main import REQUEST_ID, new_request_id


def test_request_line_has_the_same_keys_as_an_event_line(capsys):
    log_event(get_logger(), "hello", level=logging.WARNING, request_id="x")
    log_request({"request_id": "y", "status": 200, "latency_ms": 1.5})
    event, request = map(json.loads, capsys.readouterr().out.splitlines())
    assert set(event) - {"request_id"} == set(request) - {"request_id", "status", "latency_ms"}
    assert (event["level"], request["level"], request["event"]) == ("warning", "info", "request")
    assert request["ts"].endswith("Z") and len(request["ts"]) == len(event["ts"]) == 24


def test_fresh_request_ids_are_unique_sortable_and_echoable():
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids), "ids made one after another sort in that order (time first)"
    assert all(len(i) == 32 and REQUEST_ID.match(i) for i in ids), "a client may send one back as X-Request-ID"


def test_the_app_gives_each_request_a_later_id(client, records):
    first, second = (client.post("/predict", json=records[1][0]).headers["X-Request-ID"] for _ in range(2))
    assert first < second
