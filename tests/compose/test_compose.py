"""docker-compose.yml run for real: PostgreSQL, LocalStack and the app in containers, driven from the host.

Runs when a Docker daemon answers. Under CI (PIXELFLOW_REQUIRE_DOCKER=1, set by .ci/run) a missing
daemon or compose command is a failure, not a skip. Image names come from PIXELFLOW_POSTGRES_IMAGE,
PIXELFLOW_LOCALSTACK_IMAGE and PIXELFLOW_PYTHON_IMAGE when set; otherwise from the stand-ins
`make compose-images` built, when they exist; otherwise the file's defaults (the official images).
Both compose commands work: the `docker compose` plugin and Debian's `docker-compose` (v1).
"""

import io
import json
import os
import secrets
import shutil
import subprocess
import types
from pathlib import Path

import pytest
import requests
from PIL import Image
from websockets.sync.client import connect

from functions.local.stack import free_port
from tests.integration.helpers import bearer, finished, image, sign_up, wait_for

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGES = ROOT / "infra" / "compose" / "build-images.sh"
IMAGE_VARIABLES = ("PIXELFLOW_POSTGRES_IMAGE", "PIXELFLOW_LOCALSTACK_IMAGE", "PIXELFLOW_PYTHON_IMAGE")
BUILD_SECONDS = 1200   # a cold build installs every pinned package in the app image
START_SECONDS = 300    # health checks, deploy-local, first answer of /health


def _run(command, timeout=60, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def _compose_command() -> list[str] | None:
    """`docker compose` when the plugin is there, else `docker-compose` (v1, as Debian ships it)."""
    if shutil.which("docker") and _run(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _daemon_answers() -> bool:
    return bool(shutil.which("docker")) and _run(["docker", "info"], timeout=30).returncode == 0


def _image_exists(name: str) -> bool:
    return _run(["docker", "image", "inspect", name]).returncode == 0


def _image_names() -> dict[str, str]:
    """The stand-ins' names when none is given and they were built; nothing (the official images) else."""
    given = {name: os.environ[name] for name in IMAGE_VARIABLES if os.environ.get(name)}
    if given:
        return given
    printed = _run(["bash", str(BUILD_IMAGES), "--print-env"]).stdout
    standins = dict(line.removeprefix("export ").split("=", 1) for line in printed.splitlines() if "=" in line)
    if standins and all(_image_exists(name) for name in standins.values()):
        return standins
    return {}


class Compose:
    """One compose project with its own name and free host ports; `down -v` removes all it made."""

    def __init__(self, command: list[str]):
        self.command = command
        self.project = f"pixelflow-test-{secrets.token_hex(4)}"
        self.ports = {"http": free_port(), "live": free_port(), "localstack": free_port(), "postgres": free_port()}
        self.env = {
            **os.environ,
            **_image_names(),
            "PIXELFLOW_HTTP_PORT": str(self.ports["http"]),
            "PIXELFLOW_LIVE_PORT": str(self.ports["live"]),
            "PIXELFLOW_LOCALSTACK_PORT": str(self.ports["localstack"]),
            "PIXELFLOW_POSTGRES_PORT": str(self.ports["postgres"]),
            "PIXELFLOW_APP_IMAGE": "pixelflow-app:compose-test",
        }
        # Left empty, the app generates both keys into its volume: the restart below shows they are kept.
        for name in ("JWT_SECRET", "WEBHOOK_SIGNING_KEY"):
            self.env.pop(name, None)
        self.url = f"http://127.0.0.1:{self.ports['http']}"

    def __call__(self, *args: str, timeout: float = 120) -> str:
        done = _run([*self.command, "-p", self.project, "-f", str(ROOT / "docker-compose.yml"), *args],
                    timeout=timeout, env=self.env, cwd=ROOT)
        assert done.returncode == 0, (f"`compose {' '.join(args)}` exited {done.returncode}:\n"
                                      f"{done.stdout}\n{done.stderr}")
        return done.stdout

    def logs(self) -> str:
        done = _run([*self.command, "-p", self.project, "-f", str(ROOT / "docker-compose.yml"),
                     "logs", "--no-color", "--tail", "300"], timeout=60, env=self.env, cwd=ROOT)
        return done.stdout + done.stderr

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False


@pytest.fixture(scope="module")
def compose():
    required = os.environ.get("PIXELFLOW_REQUIRE_DOCKER") == "1"
    command = _compose_command()
    if command is None or not _daemon_answers():
        reason = ("no Docker daemon answers `docker info`" if command else "neither `docker compose` nor "
                  "`docker-compose` is installed")
        if required:
            pytest.fail(f"PIXELFLOW_REQUIRE_DOCKER=1 but {reason}")
        pytest.skip(f"{reason} (PIXELFLOW_REQUIRE_DOCKER=1 makes this a failure)")
    project = Compose(command)
    try:
        yield project
    finally:
        project("down", "-v", "--remove-orphans", timeout=180)


def _jpeg(width=640, height=480) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 90, 40)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@pytest.mark.timeout(BUILD_SECONDS + 3 * START_SECONDS + 600)
def test_given_docker_compose_when_the_readme_walkthrough_runs_then_images_are_done_and_survive_an_app_restart(
        compose):
    compose("build", "app", timeout=BUILD_SECONDS)
    try:
        _walk_through(compose)
    except Exception as error:
        raise AssertionError(f"{error}\n\n--- docker compose logs ---\n{compose.logs()}") from error


def _walk_through(compose: Compose) -> None:
    server = types.SimpleNamespace(url=compose.url)
    compose("up", "-d", timeout=START_SECONDS)
    assert wait_for(compose.healthy, timeout=START_SECONDS, interval=1), f"{compose.url}/health never answered 200"

    # Given an account (the README's walk-through, from the host)
    tokens = sign_up(compose.url)
    # When a photo is posted to the presigned form, straight to LocalStack's published port
    ticket = requests.post(f"{compose.url}/uploads", headers=bearer(tokens), timeout=10, json={
        "filename": "photo.jpg", "content_type": "image/jpeg", "size": len(_jpeg())})
    assert ticket.status_code == 201, ticket.text
    ticket = ticket.json()
    assert ticket["upload"]["url"].startswith(f"http://127.0.0.1:{compose.ports['localstack']}/"), ticket["upload"]
    posted = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                           files={"file": ("photo.jpg", _jpeg(), "image/jpeg")}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    # Then the event runner in the app container processes it, and its thumbnail downloads
    uploaded = finished(server, tokens, ticket["image_id"], timeout=120)
    assert uploaded["status"] == "done", uploaded
    thumbnail = requests.get(f"{compose.url}/images/{ticket['image_id']}/download", params={"variant": "thumbnail"},
                             headers=bearer(tokens), timeout=30)
    assert thumbnail.status_code == 200, thumbnail.text
    with Image.open(io.BytesIO(thumbnail.content)) as decoded:
        assert max(decoded.size) <= 640 and decoded.size != (640, 480), decoded.size

    # When a generation asks the offline provider, then it ends done too
    generation = requests.post(f"{compose.url}/generations", headers=bearer(tokens), timeout=10, json={
        "prompt": "a lighthouse on a cliff at dawn", "style": "UHD", "width": 1024, "height": 768})
    assert generation.status_code == 202, generation.text
    generated = finished(server, tokens, generation.json()["image_id"], timeout=180)
    assert generated["status"] == "done", generated

    # When the app container restarts, then the images and the session are still there
    compose("restart", "app", timeout=START_SECONDS)
    assert wait_for(compose.healthy, timeout=START_SECONDS, interval=1), "/health never answered after the restart"
    kept = image(server, tokens, ticket["image_id"])
    assert kept["status"] == "done", kept
    listed = requests.get(f"{compose.url}/images", headers=bearer(tokens), timeout=10)
    assert listed.status_code == 200, listed.text
    assert {ticket["image_id"], generation.json()["image_id"]} <= {item["id"] for item in listed.json()["items"]}

    # When the browser's live-updates ticket names a WebSocket URL, then the host reaches it on the published port
    live = requests.post(f"{compose.url}/live/tickets", headers=bearer(tokens), timeout=10)
    assert live.status_code == 201, live.text
    assert live.json()["url"].startswith(f"ws://127.0.0.1:{compose.ports['live']}?ticket="), live.json()
    page = requests.get(f"{compose.url}/", timeout=10)
    assert f"ws://127.0.0.1:{compose.ports['live']}" in page.headers["Content-Security-Policy"]
    with connect(live.json()["url"], open_timeout=30) as socket:
        socket.send(json.dumps({"action": "ping", "id": "compose"}))
        pong = json.loads(socket.recv(timeout=60))
        assert (pong["type"], pong["id"]) == ("pong", "compose"), pong
        # And subscribing to the uploaded photo answers with its current state (the two replies travel
        # through the live-events queue, so either may come first)
        socket.send(json.dumps({"action": "subscribe", "image_ids": [ticket["image_id"]]}))
        replies = {message["type"]: message for message in (json.loads(socket.recv(timeout=60)) for _ in range(2))}
        assert set(replies) == {"image.done", "subscribed"}, replies
        assert replies["image.done"]["image"]["id"] == ticket["image_id"], replies
        assert replies["subscribed"]["image_ids"] == [ticket["image_id"]], replies
