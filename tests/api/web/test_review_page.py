"""The review page in a real browser (Debian's chromium via playwright): submit -> live feed ->
board page (overlay, pin numbers with uncertainties) -> review; microscope upload with progress.
Screenshots go to $POGOSCOPE_SCREENSHOTS (default: the test's tmp folder)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.api.service.support import Server, png, setup_board, wait_done

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (run `make browser`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def test_submit_feed_board_review_upload(browser, tmp_path, synth_board):
    board = synth_board(seed=3, rows=2, cols=4)
    # requiring the tip-height check makes every pin REVIEW by construction: the top view cannot measure heights
    review_recipe = {**board.recipe, "recipe_id": "SYN-REVIEW", "required_checks": [*board.recipe["required_checks"], "tip_height"]}
    shots = Path(os.environ.get("POGOSCOPE_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    srv = Server({"POGOSCOPE_DATA_DIR": str(tmp_path / "data"), "POGOSCOPE_WORKERS": "1", "POGOSCOPE_WORKER_MODE": "thread",
                  "POGOSCOPE_OUTBOX_POLL_S": "0.1"},
                 log=tmp_path / "service.log").start()
    try:
        with srv.client() as admin:
            setup_board(admin, board)
            eng = admin.post("/v1/keys", json={"name": "erin", "role": "engineer"}).json()["key"]
            sta = admin.post("/v1/keys", json={"name": "line-1", "role": "station"}).json()["key"]
            stack_recipe = {**board.recipe, "recipe_id": "SYN-STACK", "views": ["top", "stack"]}
            assert admin.post("/v1/recipes", json=stack_recipe).status_code == 201
            assert admin.post("/v1/recipes", json=review_recipe).status_code == 201
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{srv.url}/")
        page.fill("#api-key", eng)
        page.click("#key-form button")
        page.wait_for_selector(".cards")  # the dashboard is the landing view
        page.click("#nav-feed")
        page.wait_for_selector("text=no boards yet")
        page.wait_for_selector("#live.on")

        # a station submits; the feed updates live from the SSE stream
        with httpx.Client(base_url=srv.url, headers={"X-API-Key": sta}) as st:
            r = st.post("/v1/inspections", data={"serial": "WEB-1", "recipe_id": "SYN-REVIEW", "station_id": "line-1"},
                        files={"top": ("top.png", png(board.image), "image/png")})
            assert r.status_code == 202
            iid = r.json()["id"]
        row = page.wait_for_selector(f"tr[data-id='{iid}']", timeout=30000)
        assert "WEB-1" in row.inner_text() and "REVIEW" in row.inner_text()
        page.screenshot(path=str(shots / "1-live-feed.png"))

        # the review queue lists it; its board page shows overlay and pin numbers
        page.click("#nav-review")
        page.click(f"tr[data-id='{iid}']")
        page.wait_for_selector("#overlay")
        assert page.inner_text("#serial") == "WEB-1" and page.inner_text("#board-verdict") == "REVIEW"
        page.wait_for_function("document.querySelectorAll('.pin').length === 8")
        pin0 = page.query_selector(".pin")
        pid = pin0.get_attribute("data-id")
        pin0.click()
        detail = page.inner_text("#pin-detail")
        assert pid in detail and "±" in detail and "tilt_deg" in detail and "reasons:" in detail
        page.screenshot(path=str(shots / "2-board-page.png"))

        page.select_option("#review-verdict", "FAIL")
        page.fill("#review-reason", "plunger stuck, seen under the microscope")
        page.click("#review-form button")
        page.wait_for_selector("p.review")
        assert "erin" in page.inner_text("#reviews") and "FAIL" in page.inner_text("#reviews")
        page.screenshot(path=str(shots / "3-reviewed.png"))
        with srv.client() as admin:
            doc = admin.get(f"/v1/inspections/{iid}").json()
        assert doc["verdict"] == "REVIEW" and doc["result"]["board"]["verdict"] == "REVIEW"  # measured result kept
        assert doc["reviews"][0]["reviewer"] == "erin" and doc["reviews"][0]["verdict"] == "FAIL"
        page.click("#nav-feed")
        page.click("#nav-review")
        page.wait_for_selector("text=nothing to review")

        # microscope upload with progress
        sdir = tmp_path / "stack"
        sdir.mkdir()
        img = board.image[:64, :64]
        for i in range(3):
            (sdir / f"s{i}.png").write_bytes(png(img))
        (sdir / "manifest.csv").write_text("file,z_mm\n" + "".join(f"s{i}.png,{0.01 * i:.2f}\n" for i in range(3)))
        page.click("#nav-upload")
        page.fill("input[name=serial]", "WEB-1")
        page.fill("input[name=recipe_id]", "SYN-STACK")
        page.set_input_files("input[name=manifest]", str(sdir / "manifest.csv"))
        page.set_input_files("input[name=slices]", [str(sdir / f"s{i}.png") for i in range(3)])
        page.click("#upload-form button")
        page.wait_for_selector("#upload-msg a")
        assert page.eval_on_selector("#upload-progress", "e => e.value") == 100
        page.screenshot(path=str(shots / "4-upload.png"))
        sid = page.inner_text("#upload-msg a")
        with srv.client() as admin:
            doc = wait_done(admin, sid)
        assert doc["stacks"] == ["pins"]
        page.click("#nav-recipes")
        page.wait_for_selector("text=SYN-STACK")
        page.click("#nav-calibrations")
        page.wait_for_selector(f"text={board.record.camera_id}")
        page.screenshot(path=str(shots / "5-calibrations.png"))
        print(f"screenshots: {shots}")
        page.close()  # closes the page's event stream before the service stops
    finally:
        srv.stop()
