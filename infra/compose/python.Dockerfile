# Stand-in for the official python image, from Debian's own Python (3.11 on bookworm) in a
# virtual environment on PATH, so `python` and `pip` mean what they mean in python:3.12-slim.
# Built by build-images.sh on the Debian base it makes with debootstrap (no Docker Hub needed).
ARG BASE_IMAGE=pixelflow-standin/debian:bookworm
FROM ${BASE_IMAGE}
ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
# ca-certificates also takes in any certificate build-images.sh put under
# /usr/local/share/ca-certificates (the bundle the host's pip trusts, when it has one).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/python
# pip's own bundle (certifi) would ignore the system store that holds the build host's certificate.
ENV PATH=/opt/python/bin:$PATH PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
CMD ["python3"]
