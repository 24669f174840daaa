# colorgan, run as the non-root user 10001; the runtime dependencies only, every version from
# constraints.txt, nothing fetched but the base image and those pinned packages from PyPI.
#   CPU (the default target, 2.5 GB):   docker build -t colorgan .
#   GPU (tensorflow[and-cuda], 7.4 GB): docker build --target gpu -t colorgan:gpu .
# The pipeline (dvc repro) on the bundled sample photos:
#   docker run --rm colorgan
# On your photos: a params file whose data.source is the mounted folder; the results copied out.
#   docker run --rm colorgan cat params.yaml | sed 's|source: data/sample|source: photos|' > my-params.yaml
#   docker run --name colorgan-run -v "$PWD/photos:/app/photos:ro" \
#       -v "$PWD/my-params.yaml:/app/params.yaml:ro" colorgan
#   for d in metrics models plots reports; do docker cp "colorgan-run:/app/$d" .; done
#   docker rm colorgan-run
# Podman runs the same commands (the README's "Container image" builds it without Docker Hub).

# The virtual environment, built apart and copied whole into the image: no pip cache, no
# tensorflow/include (C++ headers for custom ops, 290 MB), no stub left behind.
FROM python:3.11-slim AS venv
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /app
COPY pyproject.toml constraints.txt ./
# The dependencies before the source, so this layer is rebuilt only when pyproject.toml or
# constraints.txt change: an empty stub package is installed in editable mode, which installs
# the dependencies, the `colorgan` script and a .pth putting /app/src (the source, copied into
# the image later) on sys.path. The build tools come from constraints.txt too, installed first:
# the package and the one dependency published as source only (antlr4) build without a fetch.
# hadolint ignore=DL3013
RUN python3.11 -m venv .venv \
    && mkdir -p src/colorgan && touch src/colorgan/__init__.py README.md \
    && .venv/bin/pip install -c constraints.txt setuptools wheel \
    && .venv/bin/pip install -c constraints.txt --no-build-isolation --editable . \
    && rm -rf .venv/lib/python3.11/site-packages/tensorflow/include

# The GPU build of TensorFlow in place of the CPU one, at the pins of constraints.txt.
FROM venv AS venv-gpu
# hadolint ignore=DL3013
RUN .venv/bin/pip uninstall --yes tensorflow-cpu \
    && .venv/bin/pip install -c constraints.txt "tensorflow[and-cuda]" \
    && rm -rf .venv/lib/python3.11/site-packages/tensorflow/include

# What both images share: the user, the environment, an /app the user can write the outputs to.
FROM python:3.11-slim AS runtime
ENV PATH=/app/.venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 PREFECT_SERVER_ANALYTICS_ENABLED=false GIT_PYTHON_REFRESH=quiet
RUN groupadd --gid 10001 colorgan \
    && useradd --uid 10001 --gid 10001 --create-home colorgan \
    && install -d -o 10001 -g 10001 /app
WORKDIR /app
USER 10001:10001
CMD ["dvc", "repro"]

FROM runtime AS gpu
COPY --from=venv-gpu /app/.venv /app/.venv
# The source and the pipeline: what .dockerignore lets in.
COPY --chown=10001:10001 . .
# No .git in the image: DVC runs without an SCM.
RUN dvc config --local core.no_scm true

# CPU, the default target (the last stage).
FROM runtime AS cpu
COPY --from=venv /app/.venv /app/.venv
COPY --chown=10001:10001 . .
RUN dvc config --local core.no_scm true
