# Continuum image for docker-compose.yml: `continuum up` with external Kafka, Redis and PostgreSQL.
FROM python:3.11-slim

# /app (the code and the shipped flows) stays owned by root and read-only for the service;
# the only place it writes is its data folder, and only when it embeds a server.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONTINUUM_DATA_DIR=/var/lib/continuum

WORKDIR /app

# Only what the package and `continuum up` need (no .venv, .git or tests in the image).
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
COPY channels ./channels
COPY flows ./flows
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/continuum --no-create-home continuum \
    && install -d -o continuum -g continuum -m 0750 /var/lib/continuum

USER continuum
VOLUME ["/var/lib/continuum"]
EXPOSE 8080 8090

# Healthy once every worker consumes and Kafka, Redis and PostgreSQL answer; the slim image has Python, not curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CONTINUUM_API__PORT', '8080') + '/readyz', timeout=4)"]

CMD ["continuum", "up"]
