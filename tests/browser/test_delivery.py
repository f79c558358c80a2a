"""The gallery in Chromium: its pictures are /img renditions, and Chromium is sent AVIF or WebP."""

import re

import pytest

from tests.browser.conftest import screenshot
from tests.browser.pages import PROCESSED_MS, sign_in
from tests.integration import images_corpus as corpus
from tests.integration.helpers import finished, sign_up, upload

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture fails under CI, or skips elsewhere, saying why
    expect = None

pytestmark = pytest.mark.usefixtures("runner")


def test_given_processed_images_when_the_gallery_shows_then_they_come_from_img_as_avif_or_webp(page, site, server):
    account = sign_up(site)
    image_id = upload(server, account, corpus.photo(1400, 1000), filename="valley.jpg")
    assert finished(server, account, image_id)["status"] == "done"
    served = []
    page.on("response", lambda response: served.append(response) if "/img/" in response.url else None)
    sign_in(page, account)

    card = page.locator("#gallery-grid > li").filter(has_text="valley.jpg")
    thumbnail = card.locator("img.thumb")
    expect(thumbnail).to_have_attribute("srcset", re.compile(r"/img/.+ 320w, .+ 1400w$"), timeout=PROCESSED_MS)
    expect(thumbnail).to_have_js_property("complete", True)
    assert "/img/" in thumbnail.evaluate("element => element.currentSrc")
    assert thumbnail.evaluate("element => element.naturalWidth") > 0
    latest = page.locator("#latest-body img")
    expect(latest).to_have_js_property("complete", True)
    assert "/img/" in latest.evaluate("element => element.currentSrc")

    card.get_by_role("button").click()
    detail = page.get_by_role("dialog").locator("img.detail-image")
    expect(detail).to_have_js_property("complete", True)
    assert "/img/" in detail.evaluate("element => element.currentSrc")
    screenshot(page, "delivery-gallery", full_page=False)

    assert served, "no /img response was seen"
    types = {response.headers.get("content-type") for response in served if response.status == 200}
    assert types and types <= {"image/avif", "image/webp"}, types
    assert all(response.status in (200, 304) for response in served), [(r.url, r.status) for r in served]
