"""/docs works without internet (issue #15 item 8): in Debian's chromium, with every request that leaves
loopback refused (a dead proxy, and a route guard that records what it refused), Swagger UI renders the
API's operations and expands one; the page never tries to reach another host."""

from __future__ import annotations

import shutil
from urllib.parse import urlparse

import pytest

from tests.api.service.support import Server

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]  # no way out but loopback


def test_docs_render_offline(tmp_path):
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    srv = Server({"POGOSCOPE_DATA_DIR": str(tmp_path / "data"), "POGOSCOPE_WORKERS": "0", "POGOSCOPE_WORKER_MODE": "thread"},
                 log=tmp_path / "service.log").start()
    outside: list[str] = []

    def guard(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                page = b.new_page()
                page.route("**/*", guard)
                page.goto(f"{srv.url}/docs")
                page.wait_for_selector(".opblock-summary-path", timeout=30000)
                paths = page.locator(".opblock-summary-path").all_inner_texts()
                assert any("/v1/inspections" in t for t in paths) and any("/v1/deliveries/retry" in t for t in paths), paths
                page.locator(".opblock-summary-description", has_text="Latest result of a board").first.click()  # expand one
                page.wait_for_selector(".opblock-body", timeout=10000)
            finally:
                b.close()
    finally:
        srv.stop()
    assert outside == [], f"the docs pages tried to reach the internet: {outside}"
