# The model app as a container (docker compose --profile app). Production server: gunicorn, multiprocess metrics.
FROM python:3.11-slim-bookworm

WORKDIR /srv/workshop
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    APP_HOST=0.0.0.0 APP_PORT=8000 MODEL_DIR=/srv/workshop/models \
    PROMETHEUS_MULTIPROC_DIR=/tmp/fraud-api-metrics

COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY pyproject.toml ./
COPY workshop/ workshop/
COPY app/ app/
# models/ is git-ignored: use the one notebook 01 trained if present, else train a quick one now.
COPY . /tmp/context
RUN if [ -d /tmp/context/models ]; then cp -r /tmp/context/models models; fi && rm -rf /tmp/context \
    && python -c "from pathlib import Path; from workshop.training import ensure_model; ensure_model(Path('models'))"

RUN useradd --system --no-create-home app   # the code stays root-owned: the app only reads it
USER app
EXPOSE 8000
CMD ["gunicorn", "-c", "app/gunicorn_conf.py", "app.main:create_app()"]
