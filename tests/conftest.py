"""Shared fixtures: the embedded stack (real PostgreSQL from pgserver, real moto server).

Unit tests never touch these fixtures; integration tests get one stack per session.
"""

import os
import secrets
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"   # git-ignored: screenshots, logs


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """Start PostgreSQL + moto, provision them like `make deploy-local`, point wiring at them."""
    from functions import wiring
    from functions.local.stack import EmbeddedStack
    from infra.deploy_local import deploy

    embedded = EmbeddedStack(state_dir=tmp_path_factory.mktemp("stack"))
    env = embedded.start({})
    env.update({
        "PIXELFLOW_STAGE": "local",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "FUNCTION_TIMEOUT_SECONDS": "5",
        "RUNNER_WAIT_SECONDS": "1",
        "LOCAL_PROVIDER_DELAY_SECONDS": "1",
    })
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    settings = wiring.configure()
    deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
    yield embedded
    wiring.configure()
    embedded.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def app(stack):
    from app import app as chalice_app

    return chalice_app


@pytest.fixture(scope="session")
def server(app):
    """The app's HTTP routes on an ephemeral loopback port, as `make run` serves them."""
    from functions.local.http import LocalServer

    local = LocalServer(app, "127.0.0.1", 0).start()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def runner(app):
    """The app's SQS handlers, fed from their queues like Lambda's event source mappings."""
    from functions import wiring
    from functions.local.runner import EventRunner

    settings = wiring.settings()
    local = EventRunner(app, wiring.boto3_client("sqs"), region=settings.region, concurrency=2,
                        wait_seconds=1, timeout_seconds=settings.function_timeout).start()
    yield local
    local.stop()
