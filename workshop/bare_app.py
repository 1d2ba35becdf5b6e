"""The benchmark's ceiling: a bare WSGI app (no Flask, no model, no metrics) under the production gunicorn.

It reads the request body and answers a fixed JSON body shaped like /predict's, so what it measures is
what gunicorn + HTTP + the load generator cost on this machine: no Python app can serve faster.
"""
import json

BODY = json.dumps({"prediction": 0, "class_name": "non_fraud", "fraud_probability": 0.000123,
                   "threshold": 0.5, "model_version": "bare", "request_id": "0" * 32}).encode()
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", HEADERS)
    return [BODY]
