"""Browser fixtures: Debian's Chromium driven by Playwright, against the app on the embedded stack.

No browser is downloaded: Playwright launches /usr/bin/chromium (apt-get install chromium).
Without it (or without the playwright package) the tests fail under CI=true, and skip with
the reason elsewhere, so a laptop without Chromium can still run the rest of the suite.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS

CHROMIUM = os.environ.get("PIXELFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = ARTIFACTS / "screenshots"
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
EXPECT_TIMEOUT_MS = 15_000


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests need Chromium and Playwright: {reason}")


@pytest.fixture(scope="session")
def playwright_api():
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -r requirements-dev.txt)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_api):
    browser = playwright_api.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def site(app, server):
    """The app's URL, with the web page registered (a no-op once app.py registers it)."""
    from functions.api import web

    if "/" not in app.routes:
        app.register_blueprint(web.api)
    return server.url


@pytest.fixture
def viewport():
    return LAPTOP


@pytest.fixture
def page(browser, site, viewport, request):
    """A fresh browser context (no storage carried over) on the page; a screenshot is kept on failure.

    Afterwards, an uncaught script error or a Content-Security-Policy violation fails the test.
    """
    context = browser.new_context(viewport=viewport, accept_downloads=True, base_url=site)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.problems = problems
    yield page
    if getattr(request.node, "failed_call", False):
        screenshot(page, f"FAILED-{request.node.name}")
    context.close()
    script_problems = [problem for problem in problems
                       if problem.startswith("page error") or "Content Security Policy" in problem]
    if script_problems:
        pytest.fail("the page reported: " + "; ".join(script_problems), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.failed_call = True
    return report


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under test-artifacts/screenshots/ (git-ignored); a dialog needs full_page=False."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^\w.-]+", "-", name) + ".png")
    page.screenshot(path=str(path), full_page=full_page)
    return path
