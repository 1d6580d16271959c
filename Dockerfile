# The worker: trains runs from the queue. The PyPI torch wheel runs on CPU and, when the
# container is given a GPU (docker-compose.gpu.yml), on CUDA.
# tests/test_workers_docker.py lays out exactly what this file copies and runs its CMD there.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPIKEBOARD_DATA_DIR=/data
WORKDIR /app
# g++ builds the native Bernoulli kernels (snn_core/native) on first use, for the CPU the container runs
# on (-march=native, so not at image build time); without it Bernoulli input runs on the slower BLAS path.
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*
COPY requirements.txt requirements-web.txt ./
RUN pip install -r requirements.txt
# Not root; /data is created owned by that user, so a new dataset volume is writable by it.
RUN useradd --create-home --uid 10001 spikeboard && mkdir -p /data && chown spikeboard:spikeboard /data
COPY snn_core/ snn_core/
COPY workers/ workers/
USER spikeboard
VOLUME ["/data"]
CMD ["python", "-m", "workers"]
