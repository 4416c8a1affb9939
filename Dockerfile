# The scoring server: a server-only install (no torch), serving a model directory mounted at /models.
#   docker build -t ctr-fm .
#   docker run -p 8000:8000 -v $PWD/models:/models ctr-fm
# Training needs the [train] extra (torch==2.13.0) and is not part of this image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY contract ./contract
COPY training ./training
COPY app ./app
COPY cli ./cli
RUN pip install . && useradd --system --uid 10001 ctr
USER ctr

ENV CTR_HOST=0.0.0.0 CTR_PORT=8000 CTR_MODEL_DIR=/models/ml100k
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=1)"
CMD ["ctr", "serve"]
