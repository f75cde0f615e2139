"""A headless Chromium for page tests: Debian's own build (.ci/chromium.sh installs it), driven by Playwright's
Python package through its executable_path (Playwright's own browser download is never used), with every
request that leaves this machine refused and recorded, so a page that needs the network fails its test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest

from tests.utils import optional_module

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chromium_executable() -> str:
    """Debian's chromium on PATH; skipped without one, except under CI, which installs it (.ci/chromium.sh)."""
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    if os.environ.get("CI"):
        pytest.fail("no chromium on PATH: .ci/chromium.sh installs Debian's")
    pytest.skip("no chromium on PATH (apt-get install chromium, or .ci/chromium.sh)")


@contextmanager
def headless_chromium() -> Iterator:
    """A started Chromium (Playwright's Browser); closed, with Playwright, on leaving."""
    playwright_api = optional_module("playwright.sync_api")
    executable = chromium_executable()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def offline_page(browser, outside: list[str]):
    """A new page whose requests to anywhere but this machine are aborted, their URLs appended to `outside`."""
    page = browser.new_page(viewport={"width": 1100, "height": 700})

    def route(route) -> None:
        url = route.request.url
        if urlparse(url).scheme in ("data", "blob") or urlparse(url).hostname in LOOPBACK:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", route)
    return page
