# syntax=docker/dockerfile:1
# CPU image: `docker build -t colorgan .` then `docker run --rm -v "$PWD:/work" colorgan`.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TF_CPP_MIN_LOG_LEVEL=2 PREFECT_SERVER_ANALYTICS_ENABLED=false
RUN apt-get update \
    && apt-get install -y --no-install-recommends git make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# Dependencies first, from the same pins `make install` uses, so this layer is cached.
COPY constraints.txt pyproject.toml README.md ./
RUN mkdir -p src/colorgan && touch src/colorgan/__init__.py \
    && pip install -c constraints.txt . \
    && pip uninstall -y colorgan

COPY src ./src
RUN pip install --no-deps -c constraints.txt .
COPY stages ./stages
COPY pipelines ./pipelines
COPY dvc.yaml params.yaml Makefile ./

RUN useradd --create-home --uid 1000 colorgan
USER colorgan
WORKDIR /work
CMD ["dvc", "repro"]
