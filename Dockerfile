# syntax=docker/dockerfile:1
# colorgan, CPU:  docker build -t colorgan .
#           GPU:  docker build --target gpu -t colorgan:gpu .
# Run the pipeline on your photos:
#   docker run --rm -v "$PWD/photos:/app/photos:ro" colorgan dvc repro --set-param data.source=photos
#
# The image is set up by the same `make install` as the README's commands, so CI exercises it.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TF_CPP_MIN_LOG_LEVEL=2 PREFECT_SERVER_ANALYTICS_ENABLED=false
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git make \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 colorgan
WORKDIR /app

# Dependencies first (cached until pyproject.toml or the pins change), the source after.
COPY --chown=10001:10001 Makefile pyproject.toml constraints.txt README.md ./
RUN mkdir -p src/colorgan && touch src/colorgan/__init__.py \
    && make install PYTHON=python3.11 \
    && chown -R 10001:10001 /app
ENV PATH=/app/.venv/bin:$PATH

COPY --chown=10001:10001 src ./src
COPY --chown=10001:10001 stages ./stages
COPY --chown=10001:10001 pipelines ./pipelines
COPY --chown=10001:10001 .dvc/config .dvc/.gitignore ./.dvc/
COPY --chown=10001:10001 dvc.yaml dvc.lock params.yaml prefect.yaml .dvcignore ./

USER 10001:10001
# No .git in the image: DVC runs without an SCM.
RUN dvc config --local core.no_scm true
CMD ["dvc", "repro"]

# GPU: the same image with TensorFlow's CUDA build instead of the CPU one.
FROM base AS gpu
RUN pip uninstall --yes tensorflow-cpu \
    && pip install "tensorflow[and-cuda]==2.21.0"

# CPU, the default target (the last stage).
FROM base AS cpu
