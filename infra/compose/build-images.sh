#!/usr/bin/env bash
# Builds stand-ins for the three official images docker-compose.yml names (postgres, localstack,
# python), from Debian packages and PyPI only, for machines that reach those but not Docker Hub
# (CI). The Debian base comes from debootstrap once and is reused by all three; Docker's layer
# cache makes a second run take seconds. Needs root, a Docker daemon and debootstrap.
#   make compose-images       then   eval "$(bash infra/compose/build-images.sh --print-env)"
# Inputs (all optional):
#   PIXELFLOW_STANDIN_PREFIX    image name prefix (default pixelflow-standin)
#   PIXELFLOW_BUILD_CA_BUNDLE   certificate bundle the containers' pip must trust (default: the one
#                               the host's pip is configured with: PIP_CERT or `pip config` cert)
#   PIP_INDEX_URL               package index for pip in the containers (default: the host pip's
#                               index-url when it is an http(s) URL, else pip's default)
#   DEBIAN_MIRROR               mirror for debootstrap (default: debootstrap's own)
set -euo pipefail
cd "$(dirname "$0")/../.."

prefix="${PIXELFLOW_STANDIN_PREFIX:-pixelflow-standin}"
suite=bookworm
base="$prefix/debian:$suite"
python_image="$prefix/python:3.11"
postgres_image="$prefix/postgres:15"
localstack_image="$prefix/localstack:3.8.1"

if [ "${1:-}" = --print-env ]; then
    # The variables docker-compose.yml reads its image names from.
    echo "export PIXELFLOW_PYTHON_IMAGE=$python_image"
    echo "export PIXELFLOW_POSTGRES_IMAGE=$postgres_image"
    echo "export PIXELFLOW_LOCALSTACK_IMAGE=$localstack_image"
    exit 0
fi

# A value of the host pip's configuration (`global.cert='...'` in `pip config list`), from any file.
host_pip() { python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.$1='\(.*\)'\$/\1/p" | head -n 1; }
ca_bundle="${PIXELFLOW_BUILD_CA_BUNDLE:-${PIP_CERT:-$(host_pip cert)}}"
index_url="${PIP_INDEX_URL:-$(host_pip index-url)}"
case "$index_url" in http://*|https://*) ;; *) index_url="" ;; esac  # a file:// index is the host's disk

started=$SECONDS
if docker image inspect "$base" >/dev/null 2>&1; then
    echo "== $base exists: reused"
else
    echo "== $base from debootstrap --variant=minbase $suite"
    root="$(mktemp -d)"
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase "$suite" "$root" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} >/dev/null
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    if [ -n "$ca_bundle" ] && [ -f "$ca_bundle" ]; then
        # ca-certificates (installed by the Python stand-in) adds it to the system bundle.
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp "$ca_bundle" "$root/usr/local/share/ca-certificates/build-host.crt"
    fi
    tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
    rm -rf "$root"
    trap - EXIT
fi

build() {
    local image="$1" dockerfile="$2"
    shift 2
    echo "== $image"
    docker build --quiet -t "$image" -f "infra/compose/$dockerfile" "$@" . >/dev/null
}
build "$python_image" python.Dockerfile --build-arg "BASE_IMAGE=$base"
build "$postgres_image" postgres.Dockerfile --build-arg "BASE_IMAGE=$base"
build "$localstack_image" localstack.Dockerfile --build-arg "PYTHON_IMAGE=$python_image" \
    --build-arg "PIP_INDEX=$index_url"
echo "== stand-in images ready in $((SECONDS - started)) s"
