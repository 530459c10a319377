# syntax=docker/dockerfile:1
# Two images from one file:
#   docker build --target api    -t inversion-service-api .      # FastAPI, no JAX
#   docker build --target worker -t inversion-service-worker .   # JAX with CUDA 12 (needs the NVIDIA runtime)
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 app
WORKDIR /app

# ---------------------------------------------------------------------------------------------- build the wheel
FROM base AS build
COPY pyproject.toml README.md ./
COPY service ./service
COPY worker ./worker
RUN pip wheel --no-deps --wheel-dir /wheels .

# ---------------------------------------------------------------------------------------------- API (no JAX)
FROM base AS api
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["inversion-service", "api", "--host", "0.0.0.0", "--port", "8000"]

# ---------------------------------------------------------------------------------------------- worker (JAX, CUDA 12)
FROM base AS worker
COPY --from=build /wheels /wheels
RUN wheel="$(ls /wheels/*.whl)" \
    && pip install "${wheel}[worker]" "jax[cuda12]" \
    && rm -rf /wheels
# The persistent compilation cache lives in a volume; it must stay private to the service user (mode 0700).
RUN mkdir -p /cache/jax && chown -R app:app /cache && chmod 700 /cache/jax
ENV INVERSION_WORKER__COMPILE_CACHE_DIR=/cache/jax \
    INVERSION_WORKER__READY_FILE=/tmp/inversion-worker.ready
USER app
VOLUME ["/cache/jax"]
# Healthy = warm: the worker touches the ready file every heartbeat once its pipelines are compiled.
HEALTHCHECK --interval=10s --timeout=3s --start-period=900s --retries=3 \
    CMD ["sh", "-c", "test -n \"$(find /tmp/inversion-worker.ready -mmin -1 2>/dev/null)\""]
CMD ["inversion-service", "worker"]
