"""The web page in a real browser: accounts, uploads straight to storage, processing, the gallery.

Headless Chromium (Debian's) against the app on the embedded stack, with the SQS handlers running,
so every image really goes browser -> moto -> S3 event -> queue -> process_image -> page.
Each browser test leaves a screenshot under test-artifacts/screenshots/ (and one more when it fails).
"""

import io
import re

import pytest
import requests
from PIL import Image

from tests.browser.conftest import PHONE, screenshot
from tests.browser.pages import PROCESSED_MS, drop_files, sign_in
from tests.integration.helpers import PASSWORD, bearer, new_email, sign_up

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture fails under CI, or skips elsewhere, saying why
    expect = None

# Processing happens only while the module's event runner is up.
pytestmark = pytest.mark.usefixtures("runner")



# --- helpers ------------------------------------------------------------------------------

def picture(path, size, colour, fmt):
    """Write a small picture with Pillow: a colour field with a lighter square, so it is not uniform."""
    image = Image.new("RGB", size, colour)
    lighter = tuple(min(255, channel + 90) for channel in colour)
    image.paste(lighter, (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    image.save(path, format=fmt)
    return path


def activity_row(page, name):
    return page.locator("#activity-list > li").filter(has_text=name)


def gallery_card(page, name):
    return page.locator("#gallery-grid > li").filter(has_text=name)


def upload_as_the_page_would(base_url, account, data, filename, content_type):
    """Seed an image through the same two requests the page makes, without the page."""
    ticket = requests.post(f"{base_url}/uploads", headers=bearer(account), timeout=10, json={
        "filename": filename, "content_type": content_type, "size": len(data)}).json()
    posted = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                           files={"file": (filename, data, content_type)}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    return ticket["image_id"]


# --- accounts -----------------------------------------------------------------------------

def test_given_a_new_person_when_they_register_then_they_are_signed_in_and_a_reload_keeps_them(page):
    email = new_email()
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "sign-in")

    page.get_by_role("button", name="Create an account").click()
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Confirm password").fill(PASSWORD + "!")
    form.get_by_role("button", name="Create account").click()
    confirm = form.get_by_label("Confirm password")
    expect(page.locator("#register-confirm-error")).to_have_text("The passwords do not match.")
    expect(confirm).to_have_attribute("aria-invalid", "true")
    expect(confirm).to_be_focused()
    screenshot(page, "register-mismatch")

    confirm.fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.locator("#account-email")).to_have_text(email)
    expect(page.get_by_text("Your newest image shows here")).to_be_visible()
    expect(page.locator("#gallery-empty")).to_be_visible()
    screenshot(page, "workspace-empty")

    assert "token" not in page.url
    stored = page.evaluate("() => JSON.parse(sessionStorage.getItem('pixelflow.session'))")
    assert stored["email"] == email and stored["access_token"] and stored["refresh_token"]
    assert page.evaluate("() => localStorage.length") == 0

    page.reload()
    expect(page.locator("#account-email")).to_have_text(email)
    expect(page.get_by_role("heading", name="Add images")).to_be_visible()


def test_given_a_taken_email_when_registering_then_the_error_stands_next_to_the_email_field(page, site):
    account = sign_up(site)
    page.goto("/")
    page.get_by_role("button", name="Create an account").click()
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(account["email"])
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Confirm password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.locator("#register-email-error")).to_be_visible()
    expect(form.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    # Too short a password: the API's 422 names the field, and the page puts it there.
    form.get_by_label("Email").fill(new_email())
    form.get_by_label("Password", exact=True).fill("short")
    form.get_by_label("Confirm password").fill("short")
    form.get_by_role("button", name="Create account").click()
    expect(page.locator("#register-password-error")).to_be_visible()
    expect(page.locator("#register-email-error")).to_be_hidden()
    screenshot(page, "register-field-errors")


def test_given_an_account_when_the_password_is_wrong_then_the_form_says_so_and_the_right_one_signs_in(page, site):
    account = sign_up(site)
    page.goto("/")
    form = page.locator("#sign-in-form")
    form.get_by_label("Email").fill(account["email"])
    form.get_by_label("Password").fill("not the password at all")
    form.get_by_role("button", name="Sign in").click()
    alert = form.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).not_to_be_empty()
    expect(form.get_by_label("Password")).to_have_value("")
    expect(page.locator("#workspace")).to_be_hidden()
    screenshot(page, "sign-in-wrong-password")

    sign_in(page, account)


def test_given_a_signed_in_person_when_they_sign_out_then_the_sign_in_form_returns_and_the_session_is_revoked(
        page, site):
    account = sign_up(site)
    sign_in(page, account)
    refresh_token = page.evaluate("() => JSON.parse(sessionStorage.getItem('pixelflow.session')).refresh_token")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#sign-in-form").get_by_label("Email")).to_be_focused()
    expect(page.locator("#account")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('pixelflow.session')") is None
    screenshot(page, "signed-out")

    spent = requests.post(f"{site}/auth/refresh", json={"refresh_token": refresh_token}, timeout=10)
    assert spent.status_code == 401
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_given_an_expired_access_token_when_the_page_loads_then_one_refresh_serves_every_call(page, site):
    account = sign_up(site)
    sign_in(page, account)
    # The stored access token is no longer accepted (as after its 15 minutes): every call gets 401.
    page.evaluate("""() => {
        const session = JSON.parse(sessionStorage.getItem('pixelflow.session'));
        session.access_token = 'eyJhbGciOiJIUzI1NiJ9.e30.expired';
        sessionStorage.setItem('pixelflow.session', JSON.stringify(session));
    }""")
    refreshes = []
    page.on("request", lambda request: refreshes.append(request.url) if request.url.endswith("/auth/refresh") else None)
    page.reload()
    expect(page.locator("#gallery-empty")).to_be_visible()
    expect(page.get_by_text("Your newest image shows here")).to_be_visible()
    expect(page.locator("#account-email")).to_have_text(account["email"])
    assert len(refreshes) == 1, refreshes   # four calls were rejected at once; they shared one refresh
    stored = page.evaluate("() => JSON.parse(sessionStorage.getItem('pixelflow.session'))")
    assert stored["access_token"] != "eyJhbGciOiJIUzI1NiJ9.e30.expired"

    # When the refresh token is no good either, the person is asked to sign in again.
    page.evaluate("""() => {
        const session = JSON.parse(sessionStorage.getItem('pixelflow.session'));
        session.access_token = 'eyJhbGciOiJIUzI1NiJ9.e30.expired';
        session.refresh_token = 'revoked';
        sessionStorage.setItem('pixelflow.session', JSON.stringify(session));
    }""")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#auth-notice")).to_have_text(re.compile("session has ended"))
    assert page.evaluate("() => sessionStorage.getItem('pixelflow.session')") is None


# --- images -------------------------------------------------------------------------------

def test_given_two_images_when_uploaded_through_the_file_input_then_both_are_processed_and_the_webp_downloads(
        page, site, tmp_path):
    account = sign_up(site)
    first = picture(tmp_path / "harbour.jpg", (640, 480), (30, 90, 160), "JPEG")
    second = picture(tmp_path / "meadow.png", (300, 420), (40, 140, 60), "PNG")
    sign_in(page, account)

    # An extra variant on top of the defaults, chosen in the options.
    expect(page.get_by_text("a 128 × 128 WebP thumbnail and a full-size WebP at quality 80")).to_be_visible()
    page.get_by_text("Extra sizes and formats").click()
    page.get_by_role("button", name="Add a variant").click()
    row = page.locator("#variant-list > li").first
    row.get_by_label("Name").fill("card")
    row.get_by_label("Width").fill("200")
    row.get_by_label("Height").fill("100")
    row.get_by_label("Fit").select_option("cover")
    row.get_by_label("Format").select_option("jpeg")
    row.get_by_label("Quality").fill("70")

    page.get_by_label("Choose images").set_input_files([first, second])
    for name in ("harbour.jpg", "meadow.png"):
        expect(activity_row(page, name)).to_have_attribute("data-state", "done", timeout=PROCESSED_MS)
        thumbnail = gallery_card(page, name).locator("img.thumb")  # an /img rendition (tests/browser/test_delivery.py)
        expect(thumbnail).to_have_js_property("complete", True)
        expect(thumbnail).not_to_have_js_property("naturalWidth", 0)
        expect(gallery_card(page, name)).to_contain_text("Done")
    expect(activity_row(page, "harbour.jpg")).to_contain_text("640 × 480")
    expect(page.locator("#latest-body")).to_contain_text(re.compile("harbour.jpg|meadow.png"))
    expect(page.locator("#latest-body img")).to_have_js_property("complete", True)
    screenshot(page, "uploaded-two")

    gallery_card(page, "harbour.jpg").get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="harbour.jpg")).to_be_visible()
    # An /img srcset: naturalWidth follows the sizes attribute, so the image's own width is checked.
    expect(dialog.locator("img.detail-image")).to_have_attribute("width", "640")
    expect(dialog.locator("img.detail-image")).to_have_js_property("complete", True)
    table = dialog.locator("table.variants")
    for name, size in (("original", "640 × 480"), ("thumbnail", "128 × 128"), ("webp", "640 × 480"),
                       ("card", "200 × 100")):
        expect(table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name, exact=True))
               ).to_contain_text(size)
    screenshot(page, "image-dialog", full_page=False)

    with page.expect_download() as started:
        dialog.get_by_role("link", name="Download webp").click()
    download = started.value
    assert download.suggested_filename == "harbour-webp.webp"
    saved = Image.open(download.path())
    assert (saved.format, saved.size) == ("WEBP", (640, 480))

    # Delete it, after saying yes.
    dialog.get_by_role("button", name="Delete image…").click()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Delete permanently").click()
    expect(dialog).to_be_hidden()
    expect(gallery_card(page, "harbour.jpg")).to_have_count(0)
    expect(gallery_card(page, "meadow.png")).to_have_count(1)
    expect(page.locator("#latest-body")).to_contain_text("meadow.png")




def test_given_a_damaged_file_when_dropped_on_the_zone_then_it_shows_failed_with_the_reason(page, site):
    account = sign_up(site)
    whole = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 80, 40)).save(whole, format="JPEG", quality=95)
    sign_in(page, account)

    drop_files(page, [("broken.jpg", whole.getvalue()[:3000], "image/jpeg"),
                      ("notes.txt", b"not an image", "text/plain")])
    refused = activity_row(page, "notes.txt")
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused).to_contain_text("Not an image pixelflow takes")
    row = activity_row(page, "broken.jpg")
    expect(row).to_have_attribute("data-state", "failed", timeout=PROCESSED_MS)
    expect(row).to_contain_text("Failed")
    expect(row).to_contain_text("damaged or cut short")
    expect(gallery_card(page, "broken.jpg")).to_contain_text("Failed")
    screenshot(page, "upload-failed")

    row.get_by_role("button", name="Open broken.jpg").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Processing failed")
    expect(dialog).to_contain_text("corrupt_image")


def test_given_a_prompt_when_generating_with_the_local_provider_then_the_image_appears(page, site):
    account = sign_up(site)
    sign_in(page, account)
    tab = page.get_by_role("tab", name="Upload")
    tab.focus()
    tab.press("End")   # keyboard: the tab list moves with arrows, Home and End
    expect(page.get_by_role("tab", name="Generate")).to_have_attribute("aria-selected", "true")
    panel = page.get_by_role("tabpanel", name="Generate")
    style = panel.get_by_label("Style")
    expect(style.locator("option", has_text="Anime")).to_have_count(1)
    style.select_option(label="Anime")
    panel.get_by_label("Size").select_option("512x512")
    panel.get_by_label("Prompt").fill("A paper boat on a quiet pond")
    panel.get_by_role("button", name="Generate").click()

    row = page.locator("#activity-list > li[data-source=generation]")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-state", "done", timeout=PROCESSED_MS)
    card = page.locator("#gallery-grid > li").first
    expect(card.locator("img.thumb")).not_to_have_js_property("naturalWidth", 0)  # an /img srcset
    screenshot(page, "generated")
    expect(card).to_contain_text("A paper boat on a quiet pond")
    card.get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="A paper boat on a quiet pond")).to_be_visible()
    expect(dialog).to_contain_text("Generated from a prompt")
    expect(dialog.locator("img.detail-image")).to_have_attribute("width", "512")  # /img srcset: sized by `sizes`
    expect(dialog.locator("img.detail-image")).to_have_js_property("complete", True)


@pytest.fixture
def picture_origin():
    """A web server on loopback serving one photo, on the import allow list while the test runs."""
    from functions import wiring
    from tests.fakes.loopback import Answer, LoopbackServer
    from tests.integration.helpers import allow
    from tests.integration.images_corpus import PHOTO

    with LoopbackServer() as origin:
        origin.routes["/harbour.jpg"] = Answer(200, {"Content-Type": "image/jpeg"}, PHOTO)
        original = allow(origin.host)
        try:
            yield origin
        finally:
            wiring.configure(original)


def test_given_urls_when_imported_from_the_url_tab_then_a_public_one_arrives_and_a_private_one_is_refused(
        page, site, picture_origin):
    account = sign_up(site)
    sign_in(page, account)
    page.get_by_role("tab", name="From a URL").click()
    panel = page.get_by_role("tabpanel", name="From a URL")
    address = panel.get_by_label("Image URL")
    address.fill("harbour.jpg")
    panel.get_by_role("button", name="Import").click()
    expect(panel.locator("#import-url-error")).to_contain_text("starting with http:// or https://")

    address.fill(picture_origin.url("/harbour.jpg"))
    panel.get_by_role("button", name="Import").click()
    arrived = page.locator("#activity-list > li[data-source=import]").filter(has_text="harbour.jpg")
    expect(arrived).to_have_attribute("data-state", "done", timeout=PROCESSED_MS)
    expect(arrived.locator(".activity-thumb img")).to_have_js_property("naturalWidth", 128)
    expect(gallery_card(page, "harbour.jpg").locator("img.thumb")).not_to_have_js_property("naturalWidth", 0)

    address.fill("http://10.0.0.7/inside.jpg")
    panel.get_by_role("button", name="Import").click()
    refused = page.locator("#activity-list > li[data-source=import]").filter(has_text="inside.jpg")
    expect(refused).to_have_attribute("data-state", "failed", timeout=PROCESSED_MS)
    screenshot(page, "imported")
    refused.get_by_role("button", name="Open inside.jpg").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("url_forbidden")
    expect(dialog).to_contain_text("Imported from a URL")
    assert len(picture_origin.received("/harbour.jpg")) == 1


@pytest.mark.parametrize("viewport", [PHONE])
def test_given_a_phone_when_browsing_then_the_page_fits_the_width(page, site):
    account = sign_up(site)
    data = io.BytesIO()
    Image.new("RGB", (1200, 800), (120, 60, 150)).save(data, format="JPEG")
    upload_as_the_page_would(site, account, data.getvalue(), "dusk.jpg", "image/jpeg")
    page.goto("/")
    screenshot(page, "phone-sign-in")
    sign_in(page, account)
    card = gallery_card(page, "dusk.jpg")
    expect(card).to_have_attribute("data-status", "done", timeout=PROCESSED_MS)
    expect(card.locator("img.thumb")).to_have_js_property("complete", True)  # an /img srcset: sized by `sizes`
    expect(card.locator("img.thumb")).not_to_have_js_property("naturalWidth", 0)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "phone-workspace")

    card.get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("img.detail-image")).to_have_attribute("width", "1200")
    expect(dialog.locator("img.detail-image")).to_have_js_property("complete", True)
    link = dialog.get_by_role("link", name="Download webp")
    link.scroll_into_view_if_needed()
    box = link.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    screenshot(page, "phone-image-dialog", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(card.get_by_role("button")).to_be_focused()


# --- the files behind the page ------------------------------------------------------------

@pytest.mark.parametrize("name, media_type", [
    ("app.js", "text/javascript"), ("style.css", "text/css"), ("icon.svg", "image/svg+xml")])
def test_given_a_page_file_when_fetched_then_it_has_its_type_an_etag_and_a_304_when_unchanged(site, name, media_type):
    answer = requests.get(f"{site}/static/{name}", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith(media_type)
    assert answer.headers["Cache-Control"] == "no-cache" and answer.headers["X-Content-Type-Options"] == "nosniff"
    again = requests.get(f"{site}/static/{name}", headers={"If-None-Match": answer.headers["ETag"]}, timeout=10)
    assert again.status_code == 304 and not again.content


def test_given_a_file_not_on_the_list_when_fetched_then_404_in_the_common_error_shape(site):
    for name in ("secrets.py", "..%2Fweb.py", "index.html.bak", "web.py"):
        answer = requests.get(f"{site}/static/{name}", timeout=10)
        assert answer.status_code == 404, name
        assert answer.json()["error"]["code"] == "asset_not_found"


def test_given_the_page_then_it_allows_only_its_own_scripts_and_the_storage_origin(site):
    answer = requests.get(f"{site}/", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    from functions import wiring
    storage = wiring.storage().presigned_get("x", expires_in=60).split("/")[2]
    assert f"connect-src 'self' http://{storage}" in policy
    assert '<base href="/">' in answer.text


@pytest.mark.parametrize("path, base", [("/", "/"), ("/api/", "/api/"), ("/api", "/api/"), (None, "/")])
def test_given_a_stage_prefix_when_the_page_is_served_then_its_base_is_the_prefix(path, base):
    from types import SimpleNamespace

    from functions.api import web

    context = {"path": path, "resourcePath": "/"} if path else {}
    assert web._base_href(SimpleNamespace(context=context)) == base
