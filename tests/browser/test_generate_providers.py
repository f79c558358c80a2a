"""The Generate tab with the OpenAI-compatible provider configured (a local server speaking that protocol)."""

import dataclasses

import pytest

from tests.browser.conftest import screenshot
from tests.browser.pages import PROCESSED_MS, sign_in
from tests.fakes.openai_images_server import FakeOpenAIImages
from tests.integration.helpers import sign_up

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture fails under CI, or skips elsewhere, saying why
    expect = None

pytestmark = pytest.mark.usefixtures("runner")


@pytest.fixture
def openai_images():
    from functions import wiring

    original = wiring.settings()
    with FakeOpenAIImages(model="dall-e-3") as fake:
        wiring.configure(dataclasses.replace(
            original, provider="openai", openai_images_url=fake.url, openai_images_api_key=fake.api_key,
            openai_images_model=fake.model, openai_images_styles=("vivid", "natural")))
        try:
            yield fake
        finally:
            wiring.configure(original)


def open_generate_tab(page):
    page.get_by_role("tab", name="Generate").click()
    return page.get_by_role("tabpanel", name="Generate")


def test_given_openai_when_generating_from_the_page_then_its_styles_are_offered_and_the_image_appears(
        page, site, openai_images):
    sign_in(page, sign_up(site))
    panel = open_generate_tab(page)
    style = panel.get_by_label("Style")
    expect(style.locator("option")).to_have_text(["Default", "Vivid", "Natural"])
    expect(panel.get_by_label("Leave out")).to_be_hidden()  # OpenAI's API has no negative prompt
    style.select_option(label="Natural")
    panel.get_by_label("Size").select_option("1024x768")
    panel.get_by_label("Prompt").fill("A lighthouse at dawn")
    panel.get_by_role("button", name="Generate").click()

    row = page.locator("#activity-list > li[data-source=generation]")
    expect(row).to_have_attribute("data-state", "done", timeout=PROCESSED_MS)
    card = page.locator("#gallery-grid > li").first
    expect(card).to_contain_text("A lighthouse at dawn")
    screenshot(page, "generated-openai")
    card.get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("img.detail-image")).to_have_attribute("width", "1024")  # /img srcset: sized by `sizes`
    expect(dialog.locator("img.detail-image")).to_have_js_property("complete", True)
    expect(dialog).to_contain_text("Style: natural")
    [request] = openai_images.requests
    assert (request.json["style"], request.json["size"]) == ("natural", "1024x768")


def test_given_openai_refuses_a_prompt_when_generating_from_the_page_then_the_row_says_why(
        page, site, openai_images):
    sign_in(page, sign_up(site))
    panel = open_generate_tab(page)
    expect(panel.get_by_label("Style").locator("option")).to_have_count(3)  # styles loaded: the form is ready
    panel.get_by_label("Prompt").fill("refuse-test a forbidden picture")
    panel.get_by_role("button", name="Generate").click()

    row = page.locator("#activity-list > li[data-source=generation]")
    expect(row).to_have_attribute("data-state", "failed", timeout=PROCESSED_MS)
    screenshot(page, "generated-openai-refused")
    row.get_by_role("button").first.click()
    expect(page.get_by_role("dialog")).to_contain_text("generation_censored")
    assert "style" not in openai_images.requests[-1].json
