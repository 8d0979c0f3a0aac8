"""The operator's pages in Debian chromium (playwright): dashboard (yield, Pareto, alarms), an SPC
chart with its control limits and a rule hit on seeded data (the alarm raised by the service's own
scanner), the feed's search, filters and paging with dates, a board page whose header changes after
a review, a failed inspection that explains itself; no console errors anywhere. Full-page screenshots
at 1600 and 800 px go to $POGOSCOPE_SCREENSHOTS (default tmp/test-output/web in the checkout, not committed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.api.service.support import REPO, Server, png, setup_board, wait_done
from tests.api.web.test_review_page import browser  # noqa: F401  (the chromium fixture)
from tests.support import spc_seed

pytestmark = pytest.mark.browser


def _shots() -> Path:
    d = Path(os.environ.get("POGOSCOPE_SCREENSHOTS", REPO / "tmp" / "test-output" / "web"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_dashboard_spc_feed_board_pages(browser, tmp_path, synth_board):  # noqa: F811
    from api.service.db import make_engine, session_factory
    from api.settings import Settings

    board = synth_board(seed=3, rows=2, cols=4)
    review_recipe = {**board.recipe, "recipe_id": "SYN-REVIEW", "required_checks": [*board.recipe["required_checks"], "tip_height"]}
    data = tmp_path / "data"
    srv = Server({"POGOSCOPE_DATA_DIR": str(data), "POGOSCOPE_WORKERS": "1", "POGOSCOPE_WORKER_MODE": "thread",
                  "POGOSCOPE_OUTBOX_POLL_S": "0.1", "POGOSCOPE_SPC_ALARM_INTERVAL_S": "0.3"}, log=tmp_path / "service.log").start()
    shots = _shots()
    errors: list[str] = []
    try:
        with srv.client() as admin:
            setup_board(admin, board)
            assert admin.post("/v1/recipes", json=review_recipe).status_code == 201
            eng = admin.post("/v1/keys", json={"name": "erin", "role": "engineer"}).json()["key"]
            # a real board (REVIEW by construction: the top view cannot measure tip height) and one that cannot be inspected
            r = admin.post("/v1/inspections", data={"serial": "WEB-REAL", "recipe_id": "SYN-REVIEW", "station_id": "line-1"},
                           files={"top": ("top.png", png(board.image), "image/png")})
            real = wait_done(admin, r.json()["id"])
            r = admin.post("/v1/inspections", data={"serial": "WEB-BAD", "recipe_id": "SYN-REVIEW", "station_id": "line-1"},
                           files={"top": ("top.png", png(board.image * 0), "image/png")})  # right size, passes intake; blank
            bad = wait_done(admin, r.json()["id"])
        assert real["verdict"] == "REVIEW" and bad["status"] == "failed"
        # 60 stored boards of recipe SPC-W whose pin P03 drifts from board 40: the service's scanner raises the alarm
        engine = make_engine(Settings(data_dir=data))
        tilt = spc_seed.quiet(60)
        tilt["P03"][40:] += 0.08 * (1 + __import__("numpy").arange(20))
        tilt["P03"][50:] += 1.0  # over the 2 deg limit: FAIL
        spc_seed.seed(session_factory(engine), "SPC-W", 60, tilt=tilt, xy=spc_seed.quiet(60, level=0.02, step=0.002))
        engine.dispose()
        with srv.client() as admin:
            t0 = time.monotonic()
            while not admin.get("/v1/alarms", params={"recipe_id": "SPC-W"}).json()["items"]:
                assert time.monotonic() - t0 < 30, "no SPC alarm raised"
                time.sleep(0.2)

        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.goto(f"{srv.url}/")
        page.fill("#api-key", eng)
        page.click("#key-form button")

        def both_widths(name: str) -> None:
            page.screenshot(path=str(shots / f"{name}-1600.png"), full_page=True)
            page.set_viewport_size({"width": 800, "height": 1000})
            page.wait_for_timeout(150)
            page.screenshot(path=str(shots / f"{name}-800.png"), full_page=True)
            page.set_viewport_size({"width": 1600, "height": 1000})

        # dashboard: yield cards, Pareto bars, the open alarm; per recipe the board map
        page.wait_for_selector(".cards")
        assert page.inner_text("#alarm-count") == "1"
        assert "SPC-W · tilt_deg · P03" in page.inner_text("#alarms")
        page.select_option("#dash-recipe", "SPC-W")
        page.wait_for_selector("svg.heat")
        assert page.locator("svg.bars rect").count() >= 1 and "tilt (FAIL)" in page.inner_text("#main")
        both_widths("1-dashboard")

        # the alarm's link opens P03's chart: limits drawn and rule hits marked
        page.click("#alarms a")
        page.wait_for_selector("#chart-box svg.chart")
        assert page.inner_text("#spc-pin") == "P03"
        box = page.locator("#chart-box svg.chart").first
        assert box.locator("line.ucl").count() == 1 and box.locator("line.lcl").count() == 1 and box.locator("line.spec").count() == 1
        assert box.locator("circle.hit").count() >= 1
        assert "UCL" in box.text_content() and "rule 1" in page.inner_text("#hits")
        both_widths("2-spc-chart")

        # feed: dates, search by serial, filters, paging
        page.click("#nav-feed")
        page.wait_for_selector("table.feed")
        assert page.locator("table.feed tbody tr").count() == 50 and page.locator("#older").count() == 1
        first = page.inner_text("table.feed tbody tr >> nth=0")
        assert "2026" in first or "/" in first  # the date is shown, not only the time
        page.click("#older")
        page.wait_for_selector("#newer")
        assert "page 2" in page.inner_text(".pager")
        page.fill("#serial-q", "WEB-REAL")
        page.click("#serial-search button")
        page.wait_for_function("document.querySelectorAll('table.feed tbody tr').length === 1")
        page.fill("#f-serial", "")
        page.select_option("#f-verdict", "REVIEW")
        page.click("#feed-filters button")
        page.wait_for_function("[...document.querySelectorAll('table.feed tbody tr')].every(r => r.innerText.includes('REVIEW'))")
        both_widths("3-feed")

        # a failed inspection explains itself in a sentence, no broken image
        page.goto(f"{srv.url}/ui/#/inspection/{bad['id']}")
        page.wait_for_selector("#explain")
        assert page.inner_text("#explain").startswith("This board was not inspected:") and page.locator("#overlay").count() == 0
        both_widths("4-failed-board")

        # the board page: every measured quantity, readable labels, a review changes the header
        page.goto(f"{srv.url}/ui/#/inspection/{real['id']}")
        page.wait_for_selector("#overlay")
        page.wait_for_function("document.querySelectorAll('.pin .pin-label').length === 8")
        assert page.inner_text("#board-verdict") == "REVIEW" and page.locator("#reviewed-verdict").count() == 0
        assert "REVIEW because 8 need a human look" in page.inner_text("#explain")
        headers = page.inner_text("table.pins thead")
        assert "tilt_deg" in headers and "xy_error_mm" in headers and "tip_height_mm" not in headers  # only what was measured
        page.select_option("#review-verdict", "PASS")
        page.fill("#review-reason", "tips checked with the height gauge")
        page.click("#review-form button")
        page.wait_for_selector("#reviewed-verdict")
        assert page.inner_text("#board-verdict") == "REVIEW" and "PASS" in page.inner_text("#reviewed-verdict")
        assert "erin" in page.inner_text("#reviewed-verdict")
        both_widths("5-board-reviewed")

        page.click("#nav-dashboard")
        page.wait_for_selector(".cards")
        page.close()
        assert not errors, errors
        print(f"screenshots: {shots}")
    finally:
        srv.stop()
