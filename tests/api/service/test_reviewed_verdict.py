"""The human verdict where the MES looks (issue 15, item 5): after a review, every result view and the
`inspection.verified` event carry `reviewed_verdict`, who and when, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from tests.api.service.support import png, setup_board, wait_done


def test_reviewed_verdict_in_every_view_and_the_event(app_client, board):
    from api.service.db import EventRow

    c = app_client
    setup_board(c, board)
    r = c.post("/v1/inspections", data={"serial": "RV-1", "recipe_id": board.recipe["recipe_id"], "station_id": "st-1"},
               files={"top": ("t.png", png(board.image), "image/png")})
    doc = wait_done(c, r.json()["id"])
    assert doc["reviewed_verdict"] is None and doc["reviewed_by"] is None
    b = c.get("/v1/boards/RV-1").json()
    assert b["verdict"] == doc["verdict"] and b["reviewed_verdict"] is None

    other = "FAIL" if doc["verdict"] == "PASS" else "PASS"
    assert c.post(f"/v1/inspections/{doc['id']}/reviews", json={"verdict": other, "reason": "first look"}).status_code == 201
    rv = c.post(f"/v1/inspections/{doc['id']}/reviews", json={"verdict": "FAIL", "reason": "second opinion"}).json()

    after = c.get(f"/v1/inspections/{doc['id']}").json()
    assert after["verdict"] == doc["verdict"]  # the measured verdict is kept
    assert after["reviewed_verdict"] == "FAIL" and after["reviewed_by"] == "bootstrap-admin"
    assert after["reviewed_at"] == rv["created_at"]
    b = c.get("/v1/boards/RV-1").json()
    assert (b["verdict"], b["reviewed_verdict"], b["reviewed_by"]) == (doc["verdict"], "FAIL", "bootstrap-admin")
    assert b["latest"]["reviewed_verdict"] == "FAIL" and b["history"][0]["reviewed_verdict"] == "FAIL"
    item = c.get("/v1/inspections", params={"serial": "RV-1"}).json()["items"][0]
    assert item["reviewed_verdict"] == "FAIL" and item["reviewed_by"] == "bootstrap-admin" and item["reviewed_at"]

    with c.app.state.svc.Session() as s:
        evs = s.scalars(select(EventRow).where(EventRow.kind == "inspection.verified").order_by(EventRow.id)).all()
    assert [e.payload["reviewed_verdict"] for e in evs] == [other, "FAIL"]
    last = evs[-1].payload
    assert last["reviewed_by"] == "bootstrap-admin" and last["reviewed_at"] and last["verdict"] == doc["verdict"]
    assert last["cfx"]["MessageBody"]["InspectedUnits"][0]["HumanVerification"]["VerifiedResult"] in ("Failed", "FAIL")
