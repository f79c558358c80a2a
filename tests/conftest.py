"""Shared fixtures: the embedded stack (real PostgreSQL from pgserver, real LocalStack or moto server).

Unit tests never touch these fixtures; integration tests get one stack per session.
"""

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"   # git-ignored: screenshots, logs


@pytest.fixture(scope="session")
def stack():
    """Start PostgreSQL + the emulator PIXELFLOW_EMULATOR names (LocalStack unless moto), provision them
    like `make deploy-local`, point wiring at them. ``stack.kind`` says which emulator runs."""
    from functions import wiring
    from functions.local.stack import EmbeddedStack, free_port
    from infra.deploy_local import deploy

    # Not under pytest's basetemp: a concurrent pytest run prunes old basetemps, data dir included.
    state_dir = Path(tempfile.mkdtemp(prefix="pixelflow-test-"))
    embedded = EmbeddedStack(state_dir=state_dir)
    env = embedded.start({})
    http_port = free_port()
    env.update({
        # The server's port is chosen first so the bucket's CORS rule names the page's real origin.
        "PIXELFLOW_PUBLIC_ORIGIN": f"http://127.0.0.1:{http_port}",
        "PIXELFLOW_STAGE": "local",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "WEBHOOK_SIGNING_KEY": secrets.token_urlsafe(48),
        "FUNCTION_TIMEOUT_SECONDS": "5",
        "RUNNER_WAIT_SECONDS": "1",
        "LOCAL_PROVIDER_DELAY_SECONDS": "1",
        "MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
    })
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    settings = wiring.configure()
    deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
    yield embedded
    wiring.configure()
    embedded.stop()
    shutil.rmtree(state_dir, ignore_errors=True)
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

    port = int(os.environ["PIXELFLOW_PUBLIC_ORIGIN"].rsplit(":", 1)[1])
    local = LocalServer(app, "127.0.0.1", port).start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def runner(app):
    """The app's SQS handlers, fed from their queues like Lambda's event source mappings."""
    from functions import wiring
    from functions.local.runner import EventRunner

    settings = wiring.settings()
    # Scheduled functions stay off: a test that wants housekeeping calls it, so none runs behind its back.
    # Handlers run in worker processes, as on Lambda; a test's wiring.configure(...) reaches them with each call.
    local = EventRunner(app, wiring.boto3_client("sqs"), region=settings.region, concurrency=2,
                        wait_seconds=1, timeout_seconds=settings.function_timeout, run_schedules=False,
                        settings_source=wiring.settings).start()
    yield local
    local.stop()


@pytest.fixture
def private_dir():
    """A scratch folder for one test, outside pytest's basetemp (see ``stack``)."""
    path = Path(tempfile.mkdtemp(prefix="pixelflow-scratch-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
