"""The benchmark's reference: the seed lesson's way of serving (Flask dev server, a DataFrame per request).

Deliberately naive and kept only to measure against: `python -m workshop.naive_app --port 8001`.
"""
import argparse

import joblib
import pandas as pd
from flask import Flask, jsonify, request

from app.model import ARTIFACT
from workshop.paths import MODELS_DIR


def create_naive_app(model_dir=MODELS_DIR) -> Flask:
    app = Flask(__name__)
    model = joblib.load(f"{model_dir}/{ARTIFACT}")

    @app.post("/predict")
    def predict():
        sample = pd.DataFrame([request.get_json()])
        prediction = int(model.predict(sample)[0])
        probability = float(model.predict_proba(sample)[0, 1])
        return jsonify(prediction=prediction, class_name="fraud" if prediction else "non_fraud",
                       fraud_probability=probability)

    @app.get("/ready")
    def ready():
        return jsonify(status="ready")

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model-dir", default=str(MODELS_DIR))
    args = parser.parse_args()
    create_naive_app(args.model_dir).run(host="127.0.0.1", port=args.port, threaded=True)
