# syntax=docker/dockerfile:1
# Two images from one file (deploy/compose.yaml and deploy/k8s use both):
#   docker build --target server -t ctr-fm-server .   # the scoring server: base install, no torch
#   docker build --target train  -t ctr-fm-train .    # training, publishing, the nightly job (torch CPU)
# tests/deploy/test_deploy_files.py checks that every COPY source exists and that the commands below
# are the ones the tests run (`ctr serve`, `ctr train`, `ctr publish`, `ctr retrain`); no Docker
# daemon is available where this repository is developed, so the images themselves were not built.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv
RUN useradd --system --uid 10001 --home-dir /srv ctr
COPY pyproject.toml README.md ./
COPY contract ./contract
COPY training ./training
COPY app ./app
COPY retrain ./retrain
COPY cli ./cli

# -- the server: `pip install .` = the base dependencies only (tests/test_isolation.py: no torch) ----------
FROM base AS server
RUN pip install . && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
USER ctr
# CTR_WORKERS > 1: `ctr serve` empties CTR_METRICS_DIR and the workers share their metrics through it
ENV CTR_HOST=0.0.0.0 CTR_PORT=8000 CTR_MODEL_DIR=/models/ml100k CTR_METRICS_DIR=/tmp/ctr-metrics
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=2s --start-period=30s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=1)"
CMD ["ctr", "serve"]

# -- training and the nightly job: the [train] extra with the CPU build of torch 2.13.0 --------------------
FROM base AS train
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu && pip install ".[train]"
COPY datasets ./datasets
COPY load_tests ./load_tests
RUN mkdir -p /models /srv/.cache && chown ctr /models /srv/.cache
USER ctr
ENV CTR_CACHE_DIR=/srv/.cache
CMD ["ctr", "retrain", "--config", "/etc/ctr/retrain.toml"]
