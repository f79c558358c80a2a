"""The `pixelflow` command, run for real (a subprocess) against the embedded stack.

Each test gets its own config folder (XDG_CONFIG_HOME), so the user's real one is never touched.
"""

import hashlib
import io
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.integration.helpers import PASSWORD, bearer, sign_up

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("pixelflow")


def command():
    """The installed console script when `make install` put it there, else the same entry point via -m."""
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "functions.cli"]


class Cli:
    """Runs `pixelflow` with the test server's address and a private config folder."""

    def __init__(self, server, home: Path):
        self.home = home
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("PIXELFLOW_")}
        # PYTHONPATH: this checkout's code, whichever checkout an editable install points at.
        self.env.update({"PIXELFLOW_API": server.url, "XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home),
                         "PYTHONPATH": str(ROOT), "COLUMNS": "200"})

    def run(self, *args, input=None, timeout=300):
        return subprocess.run([*command(), *args], input=input, capture_output=True, text=True, env=self.env,
                              cwd=self.home, timeout=timeout)

    def start(self, *args):
        # Ctrl-C as a terminal's: a suite started in the background (`make test &`) inherits SIGINT ignored,
        # and the CLI rightly keeps ignoring it then, so the child gets the default disposition back.
        return subprocess.Popen([*command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, cwd=self.home,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def login(self, email):
        ran = self.run("login", "--email", email, "--password-stdin", input=PASSWORD + "\n")
        assert ran.returncode == 0, ran.stderr
        return ran


@pytest.fixture
def cli(server, runner, private_dir):
    return Cli(server, private_dir)


def photo(path: Path, seed: int, size=(64, 48), noise=False) -> bytes:
    rng = random.Random(seed)
    if noise:  # incompressible: big enough that an upload takes a moment
        picture = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    else:
        picture = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    out = io.BytesIO()
    picture.save(out, "PNG" if path.suffix == ".png" else "JPEG")
    path.write_bytes(out.getvalue())
    return out.getvalue()


def mixed_folder(folder: Path):
    """25 files: 22 images (JPEG and PNG, one in a sub-folder), 2 that are not images, 1 cut-short JPEG."""
    folder.mkdir()
    (folder / "more").mkdir()
    for index in range(21):
        photo(folder / f"photo-{index:02d}.{'png' if index % 3 == 0 else 'jpg'}", index)
    photo(folder / "more" / "deep.jpg", 99)
    (folder / "notes.txt").write_text("not a picture")
    (folder / "pretend.jpg").write_bytes(b"GIF? no: plain bytes that only look like a file name")
    whole = photo(folder / "corrupt.jpg", 7, size=(200, 150))
    (folder / "corrupt.jpg").write_bytes(whole[: len(whole) // 2])
    return sorted(path for path in folder.rglob("*") if path.is_file())


def test_given_a_folder_of_25_mixed_files_when_uploaded_twice_then_failures_are_named_and_the_rerun_skips_all(
        cli, server):
    account = sign_up(server.url)
    login = cli.login(account["email"])
    assert account["email"] in login.stdout
    stored = cli.home / "config" / "pixelflow" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert "refresh_token" in stored.read_text() and "access_token" not in stored.read_text()
    whoami = cli.run("whoami", "--json")
    assert whoami.returncode == 0 and json.loads(whoami.stdout)["user"]["email"] == account["email"]

    files = mixed_folder(cli.home / "photos")
    assert len(files) == 25
    first = cli.run("upload", "photos", "--recursive", "--concurrency", "4")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "25 files: 22 done, 1 failed, 2 skipped (not images)" in first.stdout
    assert "photos/corrupt.jpg\tcorrupt_image" in first.stdout
    assert "photos/notes.txt" in first.stdout and "photos/pretend.jpg" in first.stdout
    assert "\x1b[" not in first.stderr, "no bars or colours without a terminal"

    again = cli.run("upload", "photos", "--recursive", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert report["counts"] == {"duplicate": 23, "skipped": 2}
    assert report["batches"] == []
    assert {Path(item["path"]).name for item in report["files"] if item["status"] == "skipped"} == {
        "notes.txt", "pretend.jpg"}

    listed = json.loads(cli.run("ls", "--limit", "100", "--json").stdout)
    assert len(listed) == 23
    by_name = {image["original_name"]: image for image in listed}
    assert by_name["corrupt.jpg"]["status"] == "failed"
    target = cli.home / "fetched.png"
    got = cli.run("get", by_name["photo-03.png"]["id"], "-o", str(target), "--json")
    assert got.returncode == 0, got.stderr
    assert target.read_bytes() == (cli.home / "photos" / "photo-03.png").read_bytes()
    assert json.loads(got.stdout)["bytes"] == target.stat().st_size
    thumb = cli.run("get", by_name["photo-03.png"]["id"], "--variant", "thumbnail", "-o", str(cli.home))
    assert thumb.returncode == 0, thumb.stderr
    assert Image.open(cli.home / "photo-03-thumbnail.webp").size == (128, 128)

    shown = cli.run("show", by_name["corrupt.jpg"]["id"], "--json")
    assert shown.returncode == 1 and json.loads(shown.stdout)["error"]["code"] == "corrupt_image"
    batch_id = json.loads(cli.run("show", by_name["deep.jpg"]["id"], "--json").stdout)["batch_id"]
    followed = cli.run("batch", batch_id, "--json")
    assert followed.returncode == 1 and json.loads(followed.stdout)["counts"]["done"] == 22


def test_given_a_duplicate_and_on_duplicate_reject_then_it_counts_as_a_failure(cli, server):
    cli.login(sign_up(server.url)["email"])
    (cli.home / "a").mkdir()
    photo(cli.home / "a" / "one.jpg", 1)
    shutil.copy(cli.home / "a" / "one.jpg", cli.home / "a" / "copy.jpg")
    first = cli.run("upload", "a", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert json.loads(first.stdout)["counts"] == {"done": 1, "duplicate": 1}
    rejected = cli.run("upload", "a", "--on-duplicate", "reject", "--json")
    assert rejected.returncode == 1
    assert {item["error"]["code"] for item in json.loads(rejected.stdout)["files"]} == {"duplicate"}


def test_given_a_wrong_password_then_non_zero_with_the_apis_message(cli, server):
    account = sign_up(server.url)
    expected = requests.post(f"{server.url}/auth/login", json={"email": account["email"], "password": "nope-nope"},
                             timeout=10).json()["error"]["message"]
    ran = cli.run("login", "--email", account["email"], "--password-stdin", input="nope-nope\n")
    assert ran.returncode == 1
    assert ran.stderr.strip() == f"Error: {expected}"
    assert "Traceback" not in ran.stderr
    as_json = cli.run("login", "--email", account["email"], "--password-stdin", "--json", input="nope-nope\n")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["error"]["message"] == expected
    assert not (cli.home / "config" / "pixelflow" / "credentials.json").exists()


def test_given_usage_errors_or_no_session_then_exit_codes_say_so(cli):
    assert cli.run("upload", "no-such-folder").returncode == 2
    assert cli.run("upload", ".", "--variant", "card:axb").returncode == 2
    assert cli.run("frobnicate").returncode == 2
    signed_out = cli.run("ls")
    assert signed_out.returncode == 1 and "pixelflow login" in signed_out.stderr


def test_given_an_access_token_in_the_environment_then_commands_work_without_a_login(cli, server):
    account = sign_up(server.url)
    cli.env["PIXELFLOW_TOKEN"] = account["access_token"]
    ran = cli.run("whoami", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["user"]["email"] == account["email"]


def test_given_sigint_mid_upload_then_nothing_is_left_half_created_and_a_rerun_finishes(cli, server):
    account = sign_up(server.url)
    cli.login(account["email"])
    folder = cli.home / "big"
    folder.mkdir()
    digests = {}
    for index in range(25):
        data = photo(folder / f"noise-{index:02d}.png", index, size=(700, 700), noise=True)
        digests[hashlib.sha256(data).hexdigest()] = f"noise-{index:02d}.png"

    running = cli.start("upload", "big", "--concurrency", "1")
    for line in running.stderr:  # plain progress lines: interrupt once the first file is in
        if line.startswith("uploaded "):
            running.send_signal(signal.SIGINT)
            break
    out, err = running.communicate(timeout=120)
    assert running.returncode == 130, out + err
    assert "Interrupted:" in out and "Run the same command again" in out

    images = requests.get(f"{server.url}/images", params={"limit": 100}, headers=bearer(account), timeout=10).json()
    assert 1 <= len(images["items"]) < 25
    assert not [image for image in images["items"] if image["status"] == "awaiting_upload"], \
        "files that were not posted must not leave images waiting for them"

    rerun = cli.run("upload", "big", "--json")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    images = requests.get(f"{server.url}/images", params={"limit": 100}, headers=bearer(account), timeout=10).json()
    assert sorted(image["sha256"] for image in images["items"]) == sorted(digests)
    assert {image["status"] for image in images["items"]} == {"done"}


def test_given_several_commands_at_once_then_the_rotating_refresh_token_is_spent_once_each_and_the_session_lives(
        cli, server):
    cli.login(sign_up(server.url)["email"])
    stored = cli.home / "config" / "pixelflow" / "credentials.json"
    before = json.loads(stored.read_text())["sessions"][server.url]["refresh_token"]
    # Each command renews its access token from the stored refresh token, which rotates on every use:
    # without the lock, two commands would spend the same one and the API would end the session.
    running = [cli.start("whoami", "--json") for _ in range(4)]
    for process in running:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    after = json.loads(stored.read_text())["sessions"][server.url]["refresh_token"]
    assert after != before
    assert cli.run("whoami").returncode == 0, "a spent token presented twice would have ended the session"
    assert cli.run("logout").returncode == 0
    assert server.url not in json.loads(stored.read_text())["sessions"]
    signed_out = cli.run("whoami")
    assert signed_out.returncode == 1 and "pixelflow login" in signed_out.stderr


def test_given_generate_import_no_wait_and_rm_then_each_reports_its_items_and_exit_code(cli, server):
    cli.login(sign_up(server.url)["email"])
    generated = cli.run("generate", "a lighthouse at dawn", "--size", "256x192", "--json")
    assert generated.returncode == 0, generated.stderr
    image = json.loads(generated.stdout)
    assert image["status"] == "done" and (image["width"], image["height"]) == (256, 192)

    refused = cli.run("import", "http://127.0.0.1:1/photo.jpg", "--json")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "url_forbidden"

    (cli.home / "one").mkdir()
    photo(cli.home / "one" / "a.jpg", 5)
    started = cli.run("upload", "one", "--no-wait", "--json")
    assert started.returncode == 0, started.stderr
    [item] = json.loads(started.stdout)["files"]
    assert item["status"] == "uploaded"
    followed = cli.run("batch", item["batch_id"], "--wait", "--json")
    assert followed.returncode == 0 and json.loads(followed.stdout)["complete"]

    removed = cli.run("rm", item["image_id"], "00000000-0000-0000-0000-000000000000", "--json")
    assert removed.returncode == 1
    assert [result["deleted"] for result in json.loads(removed.stdout)] == [True, False]
    assert cli.run("show", item["image_id"]).returncode == 1
