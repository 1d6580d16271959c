# The worker: trains runs from the queue. The PyPI torch wheel runs on CPU and, when the
# container is given a GPU (docker-compose.gpu.yml), on CUDA.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPIKEBOARD_DATA_DIR=/data
WORKDIR /app
COPY requirements.txt requirements-web.txt ./
RUN pip install -r requirements.txt
COPY snn_core/ snn_core/
COPY workers/ workers/
VOLUME ["/data"]
CMD ["python", "-m", "workers"]
