# syntax=docker/dockerfile:1
# One image for the API and the workers; compose.yaml picks the command:
#   docker build -t inference-service .
#   docker run -p 8000:8000 -e INFERENCE_MODE=distributed -e INFERENCE_RABBITMQ_URL=... \
#       -e INFERENCE_REDIS_URL=... inference-service                   # the API
#   docker run ... inference-service inference worker                  # a worker
#
# Size, honestly: uv.lock pins PyPI's default torch build, which on Linux pulls in the CUDA
# libraries (the nvidia-* and cuda-* wheels). The image is therefore several GB (about 5 GB of
# packages), although it runs on the CPU when there is no GPU. A CPU-only image (under 1 GB of
# packages) needs torch and torchvision resolved from PyTorch's CPU index, i.e. a different lock:
#   [tool.uv.sources]
#   torch = { index = "pytorch-cpu" }
#   torchvision = { index = "pytorch-cpu" }
#   [[tool.uv.index]]
#   name = "pytorch-cpu"
#   url = "https://download.pytorch.org/whl/cpu"
#   explicit = true
# added to pyproject.toml, then `uv lock`, kept on its own branch or build (that lock no longer
# serves GPUs). This image installs exactly what uv.lock says.

FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/uv
# Bytecode compiled now, not by a read-only runtime; copies, not links, out of the cache mount; the
# image's Python, never a downloaded one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# The dependencies alone first: a change to the code does not reinstall torch.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project

# Then the project, installed editable (uv's default): the packages stay in /app, where the
# settings find the bundled demo model (demo/model/model.yaml beside entrypoints/). A regular wheel
# install would leave it behind, since the wheel holds only inference, adapters and entrypoints.
COPY pyproject.toml uv.lock README.md ./
COPY inference ./inference
COPY adapters ./adapters
COPY entrypoints ./entrypoints
COPY demo ./demo
COPY models ./models
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev


FROM python:3.11-slim
# Same base image as the build stage, so the virtual environment's interpreter links still hold.
RUN groupadd --system --gid 10001 inference \
    && useradd --system --uid 10001 --gid inference --create-home --home-dir /home/inference inference
# Owned by root: the service can read its code and model but not change them.
COPY --from=build /app /app
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
# The default backend (openvino) runs the model's ONNX export, cached by its weights' hash in the
# user's ~/.cache/inference: export the bundled demo model now, so a new container starts at once.
# (A model mounted at run time is exported by its worker's first start, once per container;
# mount a volume at /home/inference/.cache to keep exports across containers.)
RUN ["inference", "export-onnx"]
EXPOSE 8000
# No shell form: `inference` is PID 1 (or tini's child, with compose's `init: true`) and gets SIGTERM.
CMD ["inference", "api", "--host", "0.0.0.0", "--port", "8000"]
