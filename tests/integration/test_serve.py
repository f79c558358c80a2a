"""`make run` as a person uses it: start, store something, Ctrl-C, start again, find it still there.

The server runs as `python -m functions.local.serve` in a process group of its own, the way a
terminal runs it, and Ctrl-C is SIGINT to that whole group, the way a terminal sends it.
"""

import requests

from functions.local.stack import free_port, process_alive
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
