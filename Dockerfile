# The app for docker compose: provisions the configured emulator and database, then serves
# HTTP and the event runner (functions/local/serve.py uses DATABASE_URL / AWS_ENDPOINT_URL
# when they are set, so nothing embedded starts here).
# The base is a build argument so a stand-in can replace the official image (make compose-images).
ARG PYTHON_IMAGE=python:3.12-slim
FROM ${PYTHON_IMAGE}
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Where pip looks, when not at its default index (empty: pip's default). Not kept in the image.
ARG PIP_INDEX=""
COPY requirements.txt requirements-dev.txt ./
RUN if [ -n "$PIP_INDEX" ]; then export PIP_INDEX_URL="$PIP_INDEX"; fi \
 && pip install --no-cache-dir -r requirements-dev.txt
COPY . .
# 8000: HTTP; 8001: the live-updates WebSocket (its management API stays on the container's loopback).
EXPOSE 8000 8001
CMD ["python", "-m", "functions.local.serve", "--host", "0.0.0.0", "--port", "8000", "--live-port", "8001"]
