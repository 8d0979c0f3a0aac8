"""One rule for serials and station ids (issue #15 item 4), on SQLite and PostgreSQL: surrounding
whitespace trimmed; empty, control characters (CR, LF, NUL, tab inside) and over-long values are 422
at the door; a serial with '/' can be fetched raw or as %2F; NUL anywhere in a URL or a text body is
422, never a 500."""

from __future__ import annotations

from tests.api.service.support import png, setup_board, wait_done


def test_serial_rule_slashes_and_no_500(app_client, board):
    c = app_client
    setup_board(c, board)
    data = png(board.image)
    rid = board.recipe["recipe_id"]

    def submit(serial, station="line1"):
        return c.post("/v1/inspections", data={"serial": serial, "recipe_id": rid, "station_id": station},
                      files={"top": ("t.png", data, "image/png")})

    for bad, words in [("   ", "empty"), ("", "serial"), ("AB\r\nCD", "U+000D"), ("AB\x00CD", "U+0000"), ("A\tB", "U+0009"),
                       ("X" * 201, "limit is 200"), ("A\u2028B", "U+2028")]:
        r = submit(bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert words in r.json()["detail"], (bad, r.json())
    r = submit("OK-1", station="line\n3")
    assert r.status_code == 422 and "station_id" in r.json()["detail"], r.text
    assert c.get("/v1/inspections").json()["items"] == []

    r = submit("  LOT7/BRD/0001\r\n")  # a scanner's CR/LF and padding are trimmed
    assert r.status_code == 202, r.text
    assert r.json()["serial"] == "LOT7/BRD/0001"
    wait_done(c, r.json()["id"])
    for path in ("/v1/boards/LOT7%2FBRD%2F0001", "/v1/boards/LOT7/BRD/0001"):
        got = c.get(path)
        assert got.status_code == 200, (path, got.text)
        assert got.json()["serial"] == "LOT7/BRD/0001" and got.json()["latest"]["id"] == r.json()["id"]
    pin = c.get("/v1/boards/LOT7%2FBRD%2F0001/pins/P01")
    assert pin.status_code == 200 and pin.json()["serial"] == "LOT7/BRD/0001" and pin.json()["pin_id"] == "P01", pin.text
    assert c.get("/v1/inspections", params={"serial": "LOT7/BRD/0001"}).json()["items"][0]["id"] == r.json()["id"]
    uni = submit("Platine-Ä€-2")
    assert uni.status_code == 202 and c.get("/v1/boards/Platine-Ä€-2").status_code == 200

    # NUL and other control characters anywhere: 4xx, never 500 (PostgreSQL refuses NUL in text)
    for method, url, kw in [
        ("GET", "/v1/boards/A%00B", {}),
        ("GET", "/v1/boards/A%00B/pins/P01", {}),
        ("GET", "/v1/inspections/ab%00cd", {}),
        ("GET", "/v1/inspections", {"params": {"serial": "A\x00B"}}),
        ("GET", "/v1/inspections", {"params": {"recipe_id": "A\x00B"}}),
        ("GET", "/v1/recipes/r%00x", {}),
        ("GET", "/v1/calibrations/c%00x", {}),
        ("GET", "/v1/images/ab%00cd", {}),
        ("POST", "/v1/keys", {"json": {"name": "k\x00ey", "role": "mes"}}),
    ]:
        resp = c.request(method, url, **kw)
        assert 400 <= resp.status_code < 500, (method, url, resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json"), (url, resp.text)
    # free text (a review's reason) with NUL: SQLite stores it, PostgreSQL cannot -> 422 there; 500 on neither
    resp = c.post(f"/v1/inspections/{r.json()['id']}/reviews", json={"verdict": "PASS", "reason": "looked\x00fine"})
    assert resp.status_code in (201, 422), resp.text
