# Continuum image for docker-compose.yml: `continuum up` with external Kafka, Redis and PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package and `continuum up` need (no .venv, .git or tests in the image).
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
COPY channels ./channels
COPY flows ./flows
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app continuum

USER continuum
EXPOSE 8080 8090
CMD ["continuum", "up"]
