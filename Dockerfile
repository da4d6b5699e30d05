# One Dockerfile, one image per role (compose.yaml builds each with its target):
#   docker build --target api          -t inference-service-api .            # FastAPI, pika, redis, Pillow
#   docker build --target worker       -t inference-service-worker .         # OpenVINO/ONNX Runtime, no torch
#   docker build --target worker-torch -t inference-service-worker-torch .   # torch (CUDA wheels), for
#                                                   INFERENCE_MODEL__BACKEND=torch and GPUs
# Needs BuildKit (DOCKER_BUILDKIT=1 on engines before 23; the default since): the package caches are
# cache mounts, so a rebuild on the same machine reuses the downloads (torch with its CUDA wheels).
#
# Parameters (--build-arg), defaults for users:
#   PYTHON_IMAGE  the Python 3.11 base image, with pip; any Debian-like image with python3 on PATH
#   UV_VERSION    the uv that installs uv.lock (installed with pip: no image from another registry)
#   MODEL_MANIFEST  the model the worker images export at build time, a path in the build context
#                   (copied to /app); unset, the settings' default model. Serve the same one: set
#                   INFERENCE_MODEL__MANIFEST=/app/<path> in the containers' environment.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS uv
ARG UV_VERSION=0.13.9
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m pip install --root-user-action=ignore --break-system-packages "uv==${UV_VERSION}"
# Bytecode compiled now, not by a read-only runtime; copies, not links, out of the cache mount; the
# image's Python, never a downloaded one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# The project, installed editable (uv's default): the packages stay in /app, where the settings find
# the bundled models beside them. The whole build context: .dockerignore leaves out what an image
# does not need (tests, benchmarks, the local .venv), so a new package directory needs no edit here.
FROM scratch AS source
COPY . /app/


# Each role's virtual environment: the lock, less the extras the role does without. The dependencies
# alone first, so that a change to the code reinstalls nothing.
FROM uv AS api-build
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project
COPY --from=source /app /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev

FROM uv AS worker-build
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --extra worker --no-install-project
COPY --from=source /app /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --extra worker

FROM uv AS torch-build
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --extra worker --extra torch --no-install-project
COPY --from=source /app /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --extra worker --extra torch

# The ONNX export, made here where torch is; the worker image ships the file and no torch. The same
# `inference export-onnx` a worker runs on a cold cache, for the model the settings name (or
# MODEL_MANIFEST), into the cache the workers read.
FROM torch-build AS export
ARG MODEL_MANIFEST=
RUN /app/.venv/bin/inference export-onnx --cache-dir /export ${MODEL_MANIFEST:+--manifest "/app/$MODEL_MANIFEST"}


# The runtime: the same base image as the builds (the virtual environment's interpreter links hold),
# an unprivileged user, the code and environment owned by root so the service cannot change them.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 inference \
    && useradd --system --uid 10001 --gid inference --create-home --home-dir /home/inference inference
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INFERENCE_MODEL__CACHE_DIR=/home/inference/.cache/inference
WORKDIR /app
EXPOSE 8000


FROM runtime AS worker-torch
COPY --from=torch-build /app /app
COPY --from=export --chown=10001:10001 /export /home/inference/.cache/inference
USER 10001:10001
CMD ["inference", "worker"]


FROM runtime AS worker
COPY --from=worker-build /app /app
# Without torch this worker cannot export a model: it serves the export made at build time, or one
# mounted into its cache directory (made by `inference export-onnx` where torch is installed).
COPY --from=export --chown=10001:10001 /export /home/inference/.cache/inference
USER 10001:10001
CMD ["inference", "worker"]


# The default target (`docker build .`): the API.
FROM runtime AS api
COPY --from=api-build /app /app
USER 10001:10001
# No shell form: `inference` is PID 1 (or tini's child, with compose's `init: true`) and gets SIGTERM.
CMD ["inference", "api", "--host", "0.0.0.0", "--port", "8000"]
