"""What the browser tests share about the page: how to sign in, drop files, and how long processing may take."""

import base64

from tests.integration.helpers import PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture fails under CI, or skips elsewhere, saying why
    expect = None

PROCESSED_MS = 45_000   # upload -> event -> processing -> done, with polling backoff, on 2 busy cores


def sign_in(page, account):
    """Sign in through the page's form and wait until the signed-in page shows."""
    page.goto("/")
    form = page.locator("#sign-in-form")
    form.get_by_label("Email").fill(account["email"])
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-email")).to_have_text(account["email"])
    expect(page.get_by_role("heading", name="Add images")).to_be_visible()


def drop_files(page, files):
    """Drop files on the drop zone, as a drag from the desktop does: [(name, bytes, type)]."""
    page.evaluate("""(files) => {
        const transfer = new DataTransfer();
        for (const [name, base64, type] of files) {
            const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
            transfer.items.add(new File([bytes], name, { type }));
        }
        const zone = document.getElementById('dropzone');
        for (const kind of ['dragenter', 'dragover', 'drop']) {
            zone.dispatchEvent(new DragEvent(kind, { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }
    }""", [[name, base64.b64encode(data).decode(), kind] for name, data, kind in files])
