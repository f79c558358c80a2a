# Stand-in for localstack/localstack:3.8.1: the same localstack-core line `make run` runs in host
# mode (requirements-localstack.txt), on the Python stand-in. Build context: the repository root.
ARG PYTHON_IMAGE=pixelflow-standin/python:3.11
FROM ${PYTHON_IMAGE}
# Where pip looks, when not at its default index (empty: pip's default).
ARG PIP_INDEX=""
COPY requirements-localstack.txt /tmp/
RUN if [ -n "$PIP_INDEX" ]; then export PIP_INDEX_URL="$PIP_INDEX"; fi \
 && pip install --no-cache-dir -r /tmp/requirements-localstack.txt
# What the official image sets, and what host mode needs (see functions/local/stack.py): its DNS
# server is not needed (and crashes with current psutil), no analytics, no certificate download.
ENV GATEWAY_LISTEN=0.0.0.0:4566 \
    SERVICES=s3,sqs \
    PERSISTENCE=0 \
    EAGER_SERVICE_LOADING=1 \
    DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    FILESYSTEM_ROOT=/var/lib/localstack
EXPOSE 4566
HEALTHCHECK --interval=2s --retries=30 CMD curl -sf http://localhost:4566/_localstack/health || exit 1
CMD ["python", "-m", "localstack.runtime.main"]
