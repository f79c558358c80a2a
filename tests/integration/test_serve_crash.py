"""`make run` killed with SIGKILL (serve, the emulator, serve and its keeper), and stopped mid-job.

Each test uploads and processes images through the real HTTP API, crashes something, starts
`make run` again on the same state folder, and checks that every ``done`` image's original and
variants still download and that no image finished before the crash was processed again.
The figures (uploads, kills, lost, duplicated) are printed for the record.
"""

import json
import os
import signal

import requests

from functions.local.stack import free_port
from tests.integration import images_corpus as corpus
from tests.integration.helpers import image, sign_up, upload, wait_for
from tests.integration.serve_process import ServeProcess, answers

# Short saves and leases, so the tests wait on seconds, not minutes.
ENV = {"PIXELFLOW_SNAPSHOT_SECONDS": "1", "FUNCTION_TIMEOUT_SECONDS": "10", "RUNNER_WAIT_SECONDS": "1"}


class _Server:
    def __init__(self, url):
        self.url = url


def _all_finished(run, tokens, ids, timeout=120):
    def settled():
        items = {image_id: image(run, tokens, image_id) for image_id in ids}
        return items if all(item["status"] in ("done", "failed") for item in items.values()) else None
    items = wait_for(settled, timeout=timeout, interval=0.3)
    assert items, {image_id: image(run, tokens, image_id)["status"] for image_id in ids}
    return items


def _lost(items):
    """Images whose links do not all download (``done`` ones), or that failed, by id."""
    lost = []
    for image_id, item in items.items():
        links = [item["original"]["url"]] + [variant["url"] for variant in item["variants"]]
        if item["status"] != "done" or any(requests.get(link, timeout=10).status_code != 200 for link in links):
            lost.append(image_id)
    return lost


def _attempts(run, ids, status=None):
    db = run.database()
    try:
        return {str(row["id"]): row["processing_attempts"] for row in db.rows(
            "SELECT id, processing_attempts FROM images WHERE id = ANY(CAST(:ids AS uuid[]))"
            " AND (CAST(:status AS text) IS NULL OR status = :status)", ids=list(ids), status=status)}
    finally:
        db.close()


def _figures(name, **numbers):
    print(f"\ncrash figures [{name}]: " + ", ".join(f"{key} {value}" for key, value in numbers.items()))


def test_given_make_run_killed_while_images_are_in_flight_when_started_again_then_nothing_is_lost_or_redone(
        private_dir):
    run = ServeProcess(private_dir / "state", free_port(), private_dir / "run.log", ENV)
    run.start()
    tokens = sign_up(run.url)
    finished_before, ids, kills = {}, [], 0
    try:
        for round_number in range(3):
            ids += [upload(_Server(run.url), tokens, corpus.photo(900 + 100 * n, 700)) for n in range(3)]
            if round_number == 1:
                _all_finished(run, tokens, ids)   # this time the kill lands on an idle stack
            # What is done now must never be processed again.
            finished_before.update(_attempts(run, ids, status="done"))
            run.kill()
            kills += 1
            assert run.everything_stopped(), f"what make run started outlived it:\n{run.output()[-2000:]}"
            assert "kept" in run.output(), run.output()[-2000:]
            run.start()
        items = _all_finished(run, tokens, ids)
        lost = _lost(items)
        attempts = _attempts(run, ids)
        redone = [image_id for image_id, count in finished_before.items() if attempts[image_id] != count]
    finally:
        run.ctrl_c()
    _figures("serve SIGKILL", uploads=len(ids), kills=kills, lost=len(lost), duplicated=len(redone))
    assert not lost, {image_id: items[image_id]["status"] for image_id in lost}
    assert not redone


def test_given_the_emulator_killed_when_make_run_is_started_again_then_every_saved_image_is_still_there(
        private_dir):
    run = ServeProcess(private_dir / "state", free_port(), private_dir / "run.log", ENV)
    run.start()
    tokens = sign_up(run.url)
    ids = [upload(_Server(run.url), tokens, corpus.photo(640, 480 + 10 * n)) for n in range(4)]
    items = _all_finished(run, tokens, ids)
    keys = {link.split("?")[0].split("/pixelflow-images/")[-1] for item in items.values()
            for link in [item["original"]["url"]] + [variant["url"] for variant in item["variants"]]}
    # A save runs every second: wait until it has every object, so the kill costs nothing.
    assert wait_for(lambda: keys <= set(_index(run)), timeout=30)
    before = _attempts(run, ids)
    os.kill(run.record()["emulator_pid"], signal.SIGKILL)
    # The keeper notices, stops make run (SIGTERM), and everything it started ends.
    run.process.wait(120)
    assert "storage emulator" in run.output() and run.everything_stopped(), run.output()[-3000:]
    run.start()
    try:
        items = _all_finished(run, tokens, ids)
        lost = _lost(items)
        attempts = _attempts(run, ids)
    finally:
        run.ctrl_c()
    redone = [image_id for image_id in ids if attempts[image_id] != before[image_id]]
    _figures("emulator SIGKILL", uploads=len(ids), kills=1, lost=len(lost), duplicated=len(redone))
    assert not lost and not redone


def test_given_make_run_and_its_keeper_both_killed_when_started_again_then_the_running_emulator_is_reused(
        private_dir):
    run = ServeProcess(private_dir / "state", free_port(), private_dir / "run.log", ENV)
    run.start()
    tokens = sign_up(run.url)
    ids = [upload(_Server(run.url), tokens, corpus.photo(500, 400))]
    _all_finished(run, tokens, ids)
    endpoint, _ = run.endpoint()
    os.kill(run.record()["keeper_pid"], signal.SIGKILL)
    run.kill()
    assert answers(endpoint), "the emulator should be left running when its keeper is killed too"
    output = run.start()
    try:
        assert "(reused, still running)" in output and "0 stored object(s) restored" in output, output[-2000:]
        assert run.endpoint()[0] == endpoint
        items = _all_finished(run, tokens, ids)
        lost = _lost(items)
    finally:
        run.ctrl_c()
    _figures("serve + keeper SIGKILL", uploads=len(ids), kills=1, lost=len(lost), duplicated=0)
    assert not lost
    assert not answers(endpoint) and run.everything_stopped(timeout=5)


def test_given_a_job_in_flight_when_ctrl_c_is_pressed_then_its_variants_are_kept(private_dir):
    run = ServeProcess(private_dir / "state", free_port(), private_dir / "run.log", ENV)
    run.start()
    tokens = sign_up(run.url)
    image_id = upload(_Server(run.url), tokens, corpus.photo(6000, 4000, quality=70))
    db = run.database()
    try:
        assert wait_for(lambda: db.one("SELECT status FROM images WHERE id = :id", id=image_id)["status"]
                        == "processing", timeout=60, interval=0.02)
    finally:
        db.close()
    stopped = run.ctrl_c()
    assert run.process.returncode == 0, stopped[-3000:]
    run.start()
    try:
        items = _all_finished(run, tokens, [image_id])
        lost = _lost(items)
        attempts = _attempts(run, [image_id])
    finally:
        run.ctrl_c()
    _figures("Ctrl-C mid-job", uploads=1, kills=0, lost=len(lost), duplicated=attempts[image_id] - 1)
    assert not lost and attempts[image_id] == 1


def _index(run):
    try:
        return json.loads((run.state_dir / "s3" / "index.json").read_text())
    except (OSError, ValueError):
        return {}


def test_given_a_left_running_emulator_of_another_kind_when_make_run_starts_then_its_objects_are_saved_first(
        private_dir):
    # No periodic save: what the first emulator holds exists nowhere else.
    run = ServeProcess(private_dir / "state", free_port(), private_dir / "run.log",
                       {**ENV, "PIXELFLOW_SNAPSHOT_SECONDS": "3600", "PIXELFLOW_EMULATOR": "moto"})
    run.start()
    endpoint, bucket = run.endpoint()
    run.s3().put_object(Bucket=bucket, Key="variants/someone/unsaved.txt", Body=b"only in moto")
    os.kill(run.record()["keeper_pid"], signal.SIGKILL)
    run.kill()
    assert answers(endpoint)
    run.env["PIXELFLOW_EMULATOR"] = "localstack"
    output = run.start()
    try:
        assert "1 stored object(s) restored" in output and run.endpoint()[0] != endpoint, output[-2000:]
        assert run.s3().get_object(Bucket=bucket, Key="variants/someone/unsaved.txt")["Body"].read() \
            == b"only in moto"
    finally:
        run.ctrl_c()
    assert not answers(endpoint) and run.everything_stopped(timeout=5)
