"""The web page shows what ingest learnt: the palette and the look-alike images in the detail dialog."""

import pytest
import requests

from tests.browser.conftest import screenshot
from tests.browser.pages import PROCESSED_MS, sign_in
from tests.integration.helpers import bearer, finished, sign_up
from tests.unit import analysis_corpus as corpus

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture fails under CI, or skips elsewhere, saying why
    expect = None

pytestmark = pytest.mark.usefixtures("runner")


def _upload(site, account, data: bytes, filename: str) -> str:
    ticket = requests.post(f"{site}/uploads", headers=bearer(account), timeout=10, json={
        "filename": filename, "content_type": "image/jpeg", "size": len(data)}).json()
    posted = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                           files={"file": (filename, data, "image/jpeg")}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    return ticket["image_id"]


class _Server:
    def __init__(self, url):
        self.url = url


def test_given_an_image_and_its_copy_when_opened_then_the_dialog_shows_the_palette_and_links_the_copy(page, site):
    account = sign_up(site)
    photo = corpus.scene(61, (800, 600))
    first = _upload(site, account, corpus.encode(photo, "JPEG", quality=90), "pier.jpg")
    finished(_Server(site), account, first, timeout=PROCESSED_MS / 1000)
    copy = _upload(site, account, corpus.encode(photo.resize((400, 300)), "JPEG", quality=60), "pier-small.jpg")
    finished(_Server(site), account, copy, timeout=PROCESSED_MS / 1000)
    sign_in(page, account)

    card = page.locator("#gallery-grid > li").filter(has_text="pier.jpg").filter(has_not_text="pier-small")
    card.get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="pier.jpg")).to_be_visible()
    palette = dialog.get_by_role("list", name="Colours")
    expect(palette.locator("li").first).to_contain_text("%")
    expect(palette.locator(".swatch").first).to_have_css("width", "20px")
    expect(dialog.get_by_role("heading", name="Looks the same as")).to_be_visible()
    screenshot(page, "analysis-dialog", full_page=False)
    dialog.get_by_role("button", name=f"Image {copy[:8]}").click()
    expect(dialog.get_by_role("heading", name="pier-small.jpg")).to_be_visible()
