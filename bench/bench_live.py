"""Live updates on the embedded stack: committed state change -> WebSocket message at a client, and the API
requests the page makes for a 20-file drop with the socket up versus polling.

Starts its own embedded stack, the app's HTTP server, the runner (2 workers) and the local
WebSocket gateway, as `make run` does. Latency: for every ``image.*`` message a client receives,
its receive time minus the image's ``updated_at`` (the database's clock when the change was
written; same machine), so it covers the live-events queue, the runner's long poll, the pusher,
the management endpoint and the socket. Requests: Debian's Chromium drops 20 files on the page
and every request to the API is counted until each file shows Done; once as the page is now
(socket up), once with every WebSocket closed at once (the page polls, as it always did before).

    .venv/bin/python bench/bench_live.py [--images 30] [--files 20]
"""

import argparse
import base64
import datetime
import io
import json
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from served import PASSWORD, served_app, sign_up  # noqa: E402

CHROMIUM = os.environ.get("PIXELFLOW_CHROMIUM", "/usr/bin/chromium")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def small_jpeg(seed: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (320, 240), (seed * 37 % 256, 90, 160))
    image.paste((255, 255, 255), (40, 40, 120 + seed % 50, 120))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def latency(base: str, images: int) -> list[float]:
    from websockets.sync.client import connect

    account = sign_up(base)
    url = requests.post(f"{base}/live/tickets", headers=account["headers"], timeout=10).json()["url"]
    samples: list[float] = []
    done = threading.Event()
    finished: set[str] = set()
    with connect(url) as socket:
        def read():
            for frame in socket:
                received = time.time()
                message = json.loads(frame)
                if not message.get("type", "").startswith("image."):
                    continue
                changed = datetime.datetime.fromisoformat(message["image"]["updated_at"]).timestamp()
                samples.append((received - changed) * 1000)
                if message["type"] in ("image.done", "image.failed"):
                    finished.add(message["image"]["id"])
                    done.set()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.5)  # the $connect row is written before the handshake completes; this is only margin
        for index in range(images):
            data = small_jpeg(index)
            ticket = requests.post(f"{base}/uploads", headers=account["headers"], timeout=10, json={
                "filename": f"live-{index}.jpg", "content_type": "image/jpeg", "size": len(data)}).json()
            done.clear()
            requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                          files={"file": ("live.jpg", data, "image/jpeg")}, timeout=30).raise_for_status()
            deadline = time.monotonic() + 60
            while ticket["image_id"] not in finished and time.monotonic() < deadline:
                done.wait(1)
                done.clear()
    return samples


def page_requests(base: str, files: int, *, socket_up: bool) -> tuple[int, dict[str, int], float]:
    from playwright.sync_api import expect, sync_playwright

    account = sign_up(base)
    counted: dict[str, int] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 860})
        page = context.new_page()
        if not socket_up:
            page.route_web_socket(re.compile(".*"), lambda ws: ws.close())
        page.goto("/")
        page.locator("#sign-in-form").get_by_label("Email").fill(account["email"])
        page.locator("#sign-in-form").get_by_label("Password").fill(PASSWORD)
        page.locator("#sign-in-form").get_by_role("button", name="Sign in").click()
        expect(page.locator("#account-email")).to_have_text(account["email"], timeout=30_000)
        if socket_up:
            expect(page.locator("body")).to_have_attribute("data-live", "up", timeout=30_000)

        def note(request):
            if request.url.startswith(base) and request.resource_type in ("fetch", "xhr"):
                path = re.sub(r"[0-9a-f-]{36}", "{id}", request.url[len(base):].split("?")[0])
                key = f"{request.method} {path}"
                counted[key] = counted.get(key, 0) + 1
        page.on("request", note)
        started = time.perf_counter()
        page.evaluate("""(files) => {
            const transfer = new DataTransfer();
            for (const [name, b64] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, { type: 'image/jpeg' }));
            }
            const zone = document.getElementById('dropzone');
            for (const kind of ['dragenter', 'dragover', 'drop']) {
                zone.dispatchEvent(new DragEvent(kind, { dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
        }""", [[f"drop-{n}.jpg", base64.b64encode(small_jpeg(100 + n)).decode()] for n in range(files)])
        for n in range(files):
            expect(page.locator("#activity-list > li").filter(has_text=f"drop-{n}.jpg")).to_have_attribute(
                "data-state", "done", timeout=120_000)
        elapsed = time.perf_counter() - started
        browser.close()
    return sum(counted.values()), counted, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--files", type=int, default=20)
    args = parser.parse_args()

    with served_app(concurrency=2, wait_seconds=None, live=True) as served:
        samples = latency(served.base, args.images)
        print(f"live, {served.stack.emulator.kind if served.stack.emulator else 'AWS_ENDPOINT_URL'}, 2 runner workers, "
              f"{args.images} uploads one after another, {len(samples)} image.* messages")
        print(f"  committed change -> client message   p50 {percentile(samples, .5):6.1f} ms   "
              f"p95 {percentile(samples, .95):6.1f} ms")
        if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
            print(f"  page requests: skipped ({CHROMIUM} is missing)")
            return
        polled, polled_by, polled_s = page_requests(served.base, args.files, socket_up=False)
        live, live_by, live_s = page_requests(served.base, args.files, socket_up=True)
        print(f"  page, {args.files}-file drop until every file is Done (API requests, storage POSTs not counted):")
        print(f"    polling (socket closed)  {polled:4d} requests in {polled_s:5.1f} s  {polled_by}")
        print(f"    live socket              {live:4d} requests in {live_s:5.1f} s  {live_by}")
        print(f"    {polled / max(1, live):.1f}x fewer with the socket; before this change the page also sent one "
              f"POST /uploads per file instead of one POST /batches (+{args.files - 1} more)")


if __name__ == "__main__":
    main()
