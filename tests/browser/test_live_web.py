"""The page and live updates: with the socket up nothing is polled; with it down the page polls and still finishes;
a multi-file drop is one batch with its progress; the image dialog fits at 1280 and 390 px."""

import io
import re

import pytest
import requests
from PIL import Image

from functions import wiring
from functions.live import connections
from tests.browser.conftest import PHONE
from tests.browser.pages import PROCESSED_MS, drop_files, sign_in
from tests.integration.helpers import live_gateway, sign_up

try:
    from playwright.sync_api import expect
except ImportError:
    expect = None

pytestmark = pytest.mark.usefixtures("runner")

IMAGE_POLL = re.compile(r"/images/[0-9a-f-]{36}$")


@pytest.fixture(scope="module")
def gateway(app, runner):
    """The local WebSocket gateway, named in the settings (as make run does)."""
    with live_gateway(app) as local:
        yield local


def jpeg(size, colour) -> bytes:
    image = Image.new("RGB", size, colour)
    image.paste((255, 255, 255), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()




def api_requests(page, site):
    """Every request the page makes to the API (not storage, not the page's own files), as 'METHOD path'."""
    seen = []

    def note(request):
        if request.url.startswith(site) and request.resource_type in ("fetch", "xhr"):
            seen.append(f"{request.method} {request.url[len(site):].split('?')[0]}")
    page.on("request", note)
    return seen


def five_files():
    return [(f"live-{n}.jpg", jpeg((120 + 10 * n, 90), (40 * n, 90, 160))) for n in range(5)]


def test_given_the_socket_up_when_five_files_are_dropped_then_each_is_done_without_a_single_poll(page, site,
                                                                                                   gateway):
    account = sign_up(site)
    seen = api_requests(page, site)
    sign_in(page, account)
    expect(page.locator("body")).to_have_attribute("data-live", "up")
    files = five_files()
    drop_files(page, [(name, data, "image/jpeg") for name, data in files])
    for name, _ in files:
        expect(page.locator("#activity-list > li").filter(has_text=name)).to_have_attribute(
            "data-state", "done", timeout=PROCESSED_MS)
    batch = page.locator("#activity-list > li.activity-batch")
    expect(batch).to_contain_text("5 of 5 finished")
    expect(batch.locator("progress")).to_have_js_property("value", 5)
    assert [request for request in seen if request.startswith("GET") and IMAGE_POLL.search(request)] == []
    assert seen.count("POST /batches") == 1 and "POST /uploads" not in seen


def test_given_the_socket_killed_then_the_page_polls_and_still_finishes(page, site, gateway):
    account = sign_up(site)
    seen = api_requests(page, site)
    # Every WebSocket the page opens is closed at once, as when the gateway is unreachable.
    page.route_web_socket(re.compile(".*"), lambda socket: socket.close())
    sign_in(page, account)
    files = five_files()
    drop_files(page, [(name, data, "image/jpeg") for name, data in files])
    for name, _ in files:
        expect(page.locator("#activity-list > li").filter(has_text=name)).to_have_attribute(
            "data-state", "done", timeout=PROCESSED_MS)
    expect(page.locator("#activity-list > li.activity-batch")).to_contain_text("5 of 5 finished")
    assert any(IMAGE_POLL.search(request) for request in seen if request.startswith("GET"))
    assert page.locator("body").get_attribute("data-live") != "up"


def test_given_the_socket_dropped_midway_then_it_comes_back_with_a_fresh_ticket(page, site, gateway):
    account = sign_up(site)
    seen = api_requests(page, site)
    sign_in(page, account)
    expect(page.locator("body")).to_have_attribute("data-live", "up")
    # The server side ends every connection of this user (as API Gateway does after 2 hours).
    owned = connections.of_user(wiring.database(), account["user"]["id"])
    assert owned
    for connection_id in owned:
        requests.delete(f"{gateway.management_url}/@connections/{connection_id}", timeout=10)
    expect(page.locator("body")).to_have_attribute("data-live", "down")
    expect(page.locator("body")).to_have_attribute("data-live", "up", timeout=30_000)
    assert seen.count("POST /live/tickets") >= 2


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 860}, PHONE], ids=["laptop", "phone"])
def test_given_the_image_dialog_then_nothing_overflows_its_card(page, site, gateway, viewport):
    account = sign_up(site)
    sign_in(page, account)
    page.get_by_label("Choose images").set_input_files(files=[{
        "name": "wide-harbour-panorama.jpg", "mimeType": "image/jpeg", "buffer": jpeg((1600, 1200), (20, 80, 150))}])
    row = page.locator("#activity-list > li").filter(has_text="wide-harbour-panorama.jpg")
    expect(row).to_have_attribute("data-state", "done", timeout=PROCESSED_MS)
    row.get_by_role("button", name=re.compile("Open")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("table.variants")).to_be_visible()
    overflowing = dialog.evaluate("""(dialog) => {
        const box = dialog.getBoundingClientRect();
        const out = [];
        for (const element of dialog.querySelectorAll('table.variants, table.variants a.download, .table-wrap')) {
            const r = element.getBoundingClientRect();
            if (r.right > box.right + 0.5 || r.left < box.left - 0.5) out.push(element.className || element.tagName);
        }
        for (const wrap of dialog.querySelectorAll('.table-wrap')) {
            if (wrap.scrollWidth > wrap.clientWidth + 1) out.push('table-wrap scrolls');
        }
        return out;
    }""")
    assert overflowing == []
