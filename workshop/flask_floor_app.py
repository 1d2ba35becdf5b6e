"""The benchmark's framework floor: an empty Flask view under the production gunicorn.

It does what the bare WSGI ceiling (workshop/bare_app.py) does, read the body and answer the same fixed JSON,
but through Flask's request handling. No Flask app can serve faster, so the gap between this case and the
ceiling is Flask's own cost, and the gap between production and this case is what the lessons' features
(validation, scoring, metrics, the log line, drift, the prediction log) cost on top of Flask.
"""
from flask import Flask, Response, request

from workshop.bare_app import BODY

app = Flask(__name__)


@app.post("/predict")
def predict():
    request.get_data()
    return Response(BODY, content_type="application/json")


@app.get("/ready")
def ready():  # the benchmark waits for it before loading the server, as for every case
    return Response(BODY, content_type="application/json")
