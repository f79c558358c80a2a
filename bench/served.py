"""What the end-to-end benchmarks share: the embedded stack provisioned, the app served on a free
port with its event runner (and, if asked, the local WebSocket gateway), all stopped afterwards."""

import contextlib
import dataclasses
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

PASSWORD = "benchmark password"


@dataclasses.dataclass
class Served:
    base: str
    settings: Any
    stack: Any


@contextlib.contextmanager
def served_app(env: dict[str, str] | None = None, *, concurrency: int = 1, wait_seconds: int | None = 1,
               live: bool = False) -> Iterator[Served]:
    """Start the stack, apply ``env``, provision, and serve the app with ``concurrency`` runner workers.

    ``wait_seconds`` None takes the runner's configured long-poll wait; ``live`` also starts the local
    WebSocket gateway and names it in LIVE_SOCKET_URL / LIVE_ENDPOINT_URL, as make run does.
    """
    from functions.local.stack import EmbeddedStack, free_port

    state = Path(tempfile.mkdtemp(prefix="pixelflow-bench-"))
    stack = EmbeddedStack(state_dir=state)
    port = free_port()
    server = runner = gateway = None
    try:
        os.environ.update(stack.start({}))
        os.environ.update({"JWT_SECRET": secrets.token_urlsafe(48), "WEBHOOK_SIGNING_KEY": secrets.token_urlsafe(48),
                           "PIXELFLOW_PUBLIC_ORIGIN": f"http://127.0.0.1:{port}", **(env or {})})
        from app import app
        from functions import wiring
        from functions.local.http import LocalServer
        from functions.local.runner import EventRunner
        from infra.deploy_local import deploy

        if live:
            from functions.local.live import LocalWebsocketGateway

            gateway = LocalWebsocketGateway(app).start()
            os.environ.update(LIVE_SOCKET_URL=gateway.url, LIVE_ENDPOINT_URL=gateway.management_url)
        settings = wiring.configure()
        deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
        runner = EventRunner(app, wiring.boto3_client("sqs"), region=settings.region, concurrency=concurrency,
                             wait_seconds=settings.runner_wait_seconds if wait_seconds is None else wait_seconds,
                             timeout_seconds=settings.function_timeout).start()
        server = LocalServer(app, "127.0.0.1", port).start()
        yield Served(server.url, settings, stack)
    finally:
        if server:
            server.stop()
        if runner:
            runner.stop()
        if gateway:
            gateway.stop()
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


def sign_up(base: str) -> dict[str, Any]:
    """Register a fresh account: its e-mail and the Authorization header of a login."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    requests.post(f"{base}/auth/register", json={"email": email, "password": PASSWORD}, timeout=10)
    token = requests.post(f"{base}/auth/login", json={"email": email, "password": PASSWORD},
                          timeout=10).json()["access_token"]
    return {"email": email, "headers": {"Authorization": f"Bearer {token}"}}
