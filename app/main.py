"""The Flask app factory: /predict, /predict/batch, /health, /ready, /metrics, /openapi.json (+ /admin/faults in lessons)."""
import logging
import re
import time
import uuid

import numpy as np
from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.config import Settings
from app.drift import DriftMonitor, DriftProfileError, load_profile
from app.faults import FaultInjector
from app.logs import get_logger, log_event
from app.metrics import Metrics, observe_many
from app.model import FraudModel, ModelLoadError
from app.openapi import openapi_document
from app.validation import RequestError, batch_format, batch_to_rows, number, parse_json, record_to_row

PREDICT_ENDPOINTS = {"predict", "predict_batch"}
HTTP_REASONS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
BATCH_COLUMNS = ["prediction", "class_name", "fraud_probability"]  # the columnar batch answer
CLASS_NAMES = np.array(["non_fraud", "fraud"])
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(settings: Settings | None = None, model: FraudModel | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False  # OPTIONS gets a JSON 405 like any other unknown method
    metrics = Metrics()
    logger = get_logger()
    load_error = None
    if model is None:
        try:
            model = FraudModel.load(settings.model_dir)
        except (ModelLoadError, OSError, KeyError, ValueError) as exc:
            load_error = str(exc)
            log_event(logger, "model_load_failed", logging.ERROR, error=load_error)
    drift = None
    if model is not None:
        metrics.describe_model(model.card)
        try:  # data drift monitoring needs the training reference profile saved with the model
            drift = DriftMonitor(load_profile(settings.model_dir, model.version), model.features, metrics.registry,
                                 settings.drift_flush_seconds)
        except (DriftProfileError, OSError, KeyError, ValueError) as exc:
            log_event(logger, "drift_monitoring_off", logging.WARNING, reason=str(exc))
    metrics.drift_enabled.set(drift is not None)
    faults = FaultInjector(metrics) if settings.enable_faults else None
    app.extensions.update(metrics=metrics, model=model, faults=faults, settings=settings, drift=drift)

    def require_model() -> FraudModel:
        if model is None:
            raise RequestError(503, "model_unavailable", f"model not loaded: {load_error}")
        return model

    def read_json():
        try:
            raw = request.get_data(cache=False)
            # A streamed (chunked) body is cut at the limit without an error: is there more behind it?
            if request.content_length is None and len(raw) >= settings.max_body_bytes \
                    and request.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()
        except RequestEntityTooLarge:
            raise RequestError(413, "payload_too_large",
                               f"body larger than {settings.max_body_bytes} bytes") from None
        return parse_json(request.content_type, raw)

    def score(inputs: np.ndarray) -> tuple[list[int], list[str], list[float]]:
        """Predictions, class names and fraud probabilities of a (n, n_features) float array."""
        m = require_model()
        if faults is not None and faults.apply():
            raise RuntimeError("injected fault (alerting lesson)")
        probabilities = m.predict_proba(inputs)
        undefined = np.flatnonzero(np.isnan(probabilities))
        if len(undefined):  # e.g. +1e308 and -1e308 in two features: inf - inf in the score
            raise RequestError(400, "out_of_range", f"record {undefined[0]}: values too large for the model "
                               "(its score is undefined); features are expected near their training range",
                               index=int(undefined[0]))
        if drift is not None:
            drift.observe(inputs, probabilities)
        labels = (probabilities >= m.threshold).astype(int)
        n_fraud = int(labels.sum())
        metrics.predictions.labels(class_name="fraud").inc(n_fraud)
        metrics.predictions.labels(class_name="non_fraud").inc(len(labels) - n_fraud)
        observe_many(metrics.fraud_probability, probabilities)
        return labels.tolist(), CLASS_NAMES[labels].tolist(), probabilities.tolist()

    @app.before_request
    def start_timer():
        g.start = time.perf_counter()
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied if REQUEST_ID.match(supplied) else uuid.uuid4().hex
        g.log = {}

    @app.post("/predict")
    def predict():
        m = require_model()
        (label,), (class_name,), (p,) = score(np.array([record_to_row(read_json(), m.features)]))
        result = {"prediction": label, "class_name": class_name, "fraud_probability": p}
        g.log.update(class_name=result["class_name"], fraud_probability=round(result["fraud_probability"], 6))
        return jsonify(**result, threshold=m.threshold, model_version=m.version, request_id=g.request_id)

    @app.post("/predict/batch")
    def predict_batch():
        m = require_model()
        payload = read_json()
        labels, class_names, probabilities = score(batch_to_rows(payload, m.features, settings.max_batch_records))
        g.log.update(n_records=len(labels), n_fraud=sum(labels))
        common = dict(n=len(labels), threshold=m.threshold, model_version=m.version, request_id=g.request_id)
        rows = zip(labels, class_names, probabilities, strict=True)
        if batch_format(payload) == "columns":  # answer in the format of the question
            return jsonify(columns=BATCH_COLUMNS, data=list(rows), **common)
        return jsonify(predictions=[dict(zip(BATCH_COLUMNS, row, strict=True)) for row in rows], **common)

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(status="not_ready", reason=load_error), 503
        return jsonify(status="ready", model_version=model.version)

    @app.get("/metrics", endpoint="metrics")  # the label value rules and panels exclude: endpoint!="metrics"
    def metrics_endpoint():
        if drift is not None:
            drift.flush()  # this process's buffered drift counts; other workers flush on their own timer
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    @app.get("/openapi.json", endpoint="openapi")
    def openapi():
        return jsonify(openapi_document(model.features if model else None, settings.max_batch_records,
                                        settings.max_body_bytes, faults is not None,
                                        model.version if model else "no model"))

    if faults is not None:
        @app.route("/admin/faults", methods=["GET", "POST", "DELETE"])
        def admin_faults():
            if request.method == "POST":
                payload = read_json()
                if not isinstance(payload, dict) or set(payload) - {"latency_seconds", "error_rate"}:
                    raise RequestError(400, "not_an_object",
                                       'body must be {"latency_seconds": s, "error_rate": share}')
                try:
                    faults.update(**{name: number(value, "body", name) for name, value in payload.items()})
                except ValueError as exc:
                    raise RequestError(400, "out_of_range", str(exc)) from None
            elif request.method == "DELETE":
                faults.update()
            return jsonify(faults.as_dict())

    @app.errorhandler(RequestError)
    def client_error(exc: RequestError):
        if exc.status < 500:
            metrics.invalid.labels(reason=exc.reason).inc()
        g.log["error"] = exc.reason
        return jsonify({**exc.body(), "request_id": g.get("request_id")}), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        reason = HTTP_REASONS.get(exc.code, "http_error")
        if exc.code < 500:
            metrics.invalid.labels(reason=reason).inc()
        g.log["error"] = reason
        return jsonify(error=reason, message=exc.description, request_id=g.get("request_id")), exc.code

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        log_event(logger, "unhandled_exception", logging.ERROR, request_id=g.get("request_id"), error=repr(exc))
        g.log["error"] = "internal_error"
        return jsonify(error="internal_error", message="the server failed; see its logs",
                       request_id=g.get("request_id")), 500

    @app.after_request
    def record(response):
        elapsed = time.perf_counter() - g.get("start", time.perf_counter())
        endpoint = request.endpoint or "unmatched"
        if endpoint in PREDICT_ENDPOINTS:
            metrics.latency.observe(elapsed)
        metrics.count_request(endpoint, request.method, response.status_code)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if settings.log_requests and endpoint != "metrics":
            log_event(logger, "request", request_id=g.get("request_id"), method=request.method,
                      path=request.path, status=response.status_code, latency_ms=round(elapsed * 1000, 3),
                      model_version=model.version if model else None, **g.get("log", {}))
        return response

    return app
