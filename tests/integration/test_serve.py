"""`make run` as a person uses it: start, store something, Ctrl-C, start again, find it still there.

The server runs as `python -m functions.local.serve` in a process group of its own, the way a
terminal runs it, and Ctrl-C is SIGINT to that whole group, the way a terminal sends it.
"""

import json
import re
import socket

import psutil
import requests
from websockets.sync.client import connect

from functions.local.stack import free_port, process_alive
from tests.integration.helpers import bearer, sign_up
from tests.integration.serve_process import ServeProcess, answers


def test_given_make_run_when_ctrl_c_is_pressed_then_it_stops_cleanly_and_the_next_start_restores_the_bucket(
        private_dir):
    run = ServeProcess(private_dir / "state", free_port(), private_dir / "run.log")
    output = run.start()
    try:
        assert requests.get(f"{run.url}/health", timeout=10).json()["status"] == "ok"
        assert "schedules  housekeeping" in output and "reconciled 0 finished image(s)" in output
        endpoint, bucket = run.endpoint()
        run.s3().put_object(Bucket=bucket, Key="variants/someone/kept.txt", Body=b"still here")
    finally:
        stopped = run.ctrl_c()
    assert run.process.returncode == 0, stopped[-3000:]
    assert "kept 1 stored object(s)" in stopped and "Traceback" not in stopped, stopped[-3000:]
    assert not answers(run.url), "the HTTP server outlived Ctrl-C"
    assert not answers(endpoint), "the emulator outlived Ctrl-C"
    assert run.everything_stopped(timeout=5), "a process make run started outlived it"

    keys = {name: (run.state_dir / name).read_text() for name in ("jwt-secret", "webhook-signing-key")}
    output = run.start()
    try:
        assert "1 stored object(s) restored" in output
        endpoint, bucket = run.endpoint()
        assert run.s3().get_object(Bucket=bucket, Key="variants/someone/kept.txt")["Body"].read() == b"still here"
    finally:
        run.ctrl_c()
    assert run.process.returncode == 0
    # Kept, not drawn again: sessions and every user's webhook secret survive a restart.
    assert {name: (run.state_dir / name).read_text() for name in keys} == keys
    assert all(len(value.strip()) >= 32 for value in keys.values())


def test_given_make_run_is_running_when_a_second_one_starts_on_the_same_folder_then_it_refuses(private_dir):
    run = ServeProcess(private_dir / "state", free_port(), private_dir / "run.log")
    run.start()
    try:
        second = ServeProcess(private_dir / "state", free_port(), private_dir / "second.log")
        try:
            second.start(timeout=60)
            raise AssertionError("a second make run started on a folder in use")
        except AssertionError as refused:
            assert "is using" in str(refused) and second.process.returncode == 1, str(refused)[-2000:]
        assert requests.get(f"{run.url}/health", timeout=10).json()["status"] == "ok"
    finally:
        run.ctrl_c()
    assert run.process.returncode == 0


def test_given_the_last_save_fails_when_ctrl_c_is_pressed_then_the_emulator_is_left_recorded_and_reused(private_dir):
    run = ServeProcess(private_dir / "state", free_port(), private_dir / "run.log",
                       {"PIXELFLOW_SNAPSHOT_SECONDS": "1"})
    run.start()
    # A real refusal: a folder where the snapshot's new index is written, so every save fails as a whole.
    blocker = run.state_dir / "s3" / "index.saving"
    blocker.mkdir(parents=True)
    try:
        endpoint, bucket = run.endpoint()
        run.s3().put_object(Bucket=bucket, Key="variants/someone/unsaved.txt", Body=b"only in the emulator")
    finally:
        stopped = run.ctrl_c()
    assert run.process.returncode == 0, stopped[-3000:]
    assert "the last save failed" in stopped, stopped[-3000:]
    record = run.record()
    assert record.get("emulator_pid") and process_alive(record["emulator_pid"], record.get("emulator_created"))
    assert answers(endpoint), "the emulator holding unsaved objects was stopped"

    blocker.rmdir()
    output = run.start()
    try:
        assert "(reused, still running)" in output and run.endpoint()[0] == endpoint, output[-2000:]
        assert run.s3().get_object(Bucket=bucket, Key="variants/someone/unsaved.txt")["Body"].read() \
            == b"only in the emulator"
    finally:
        stopped = run.ctrl_c()
    assert "kept 1 stored object(s)" in stopped, stopped[-3000:]
    assert not answers(endpoint) and run.everything_stopped(timeout=5)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5):
            return True
    except OSError:
        return False


def test_given_make_run_on_all_interfaces_then_the_management_api_stays_on_loopback_and_browsers_get_the_socket_url(
        private_dir):
    # As the Dockerfile runs it: --host 0.0.0.0 and a fixed live port; LIVE_SOCKET_URL as docker compose sets it
    # (here another loopback address, which only a socket on every interface answers, as a published port would).
    live_port = free_port()
    public = f"ws://127.0.0.2:{live_port}"
    run = ServeProcess(private_dir / "state", free_port(), private_dir / "run.log", env={"LIVE_SOCKET_URL": public},
                       args=("--host", "0.0.0.0", "--live-port", str(live_port)))
    output = run.start()
    try:
        management = re.search(r"management API http://127\.0\.0\.1:(\d+)", output)
        assert management, output[-3000:]
        management_port = int(management.group(1))
        listening = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(run.process.pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN}
        # Then the WebSocket and HTTP listen everywhere, as asked, but the unauthenticated management API does not
        assert ("0.0.0.0", live_port) in listening and ("0.0.0.0", run.port) in listening, listening
        assert {address for address, port in listening if port == management_port} == {"127.0.0.1"}, listening
        assert _accepts("127.0.0.1", management_port) and not _accepts("127.0.0.2", management_port)
        assert _accepts("127.0.0.2", live_port)

        # And a ticket names the public socket URL, which the page's CSP allows and which answers a ping
        tokens = sign_up(run.url)
        ticket = requests.post(f"{run.url}/live/tickets", headers=bearer(tokens), timeout=10)
        assert ticket.status_code == 201, ticket.text
        assert ticket.json()["url"].startswith(f"{public}?ticket="), ticket.json()
        assert public in requests.get(f"{run.url}/", timeout=10).headers["Content-Security-Policy"]
        with connect(ticket.json()["url"], open_timeout=10) as client:
            client.send(json.dumps({"action": "ping", "id": "anywhere"}))
            pong = json.loads(client.recv(timeout=60))
        assert (pong["type"], pong["id"]) == ("pong", "anywhere"), pong
    finally:
        run.ctrl_c()
    assert run.process.returncode == 0
