"""Every route declares a permission; a walk over every route with every role gets exactly the
answers the role table says (403 without the permission, never 401/403 with it)."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from api.service.deps import PERMISSIONS, ROLES, Allowed

PUBLIC = {"/healthz", "/readyz", "/metrics", "/"}


@pytest.fixture
def db_env(sqlite_env) -> dict:
    """SQLite only: roles do not depend on the backend (persistence runs on both in test_inspections/test_worker)."""
    return sqlite_env


def _permission(route: APIRoute) -> str | None:
    stack = [route.dependant]
    while stack:
        d = stack.pop()
        if isinstance(d.call, Allowed):
            return d.call.permission
        stack.extend(d.dependencies)
    return None


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


@pytest.fixture
def keys(app_client):
    out = {}
    for role in ROLES:
        r = app_client.post("/v1/keys", json={"name": f"k-{role}", "role": role})
        assert r.status_code == 201
        out[role] = r.json()["key"]
    return out


def test_every_route_with_every_role(app_client, keys):
    from api.service.app import routers

    routes = [r for router in routers() for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 20
    for route in routes:
        perm = _permission(route)
        if route.path in PUBLIC:
            assert perm is None
            continue
        assert perm is not None, f"{route.path} declares no permission"
        for method in route.methods:
            url = _fill(route.path)
            params = {"after": -1} if route.path == "/v1/events" else None  # a 422 instead of an endless stream
            r = app_client.request(method, url, headers={"X-API-Key": "wrong"}, params=params)
            assert r.status_code == 401, (method, url)
            r = app_client.request(method, url, headers={"X-API-Key": ""}, params=params)
            assert r.status_code == 401, (method, url)
            for role, key in keys.items():
                kw = {"json": {}} if method in ("POST", "PUT", "PATCH") and "multipart" not in str(route.body_field) else {}
                r = app_client.request(method, url, headers={"X-API-Key": key}, params=params, **kw)
                if perm in PERMISSIONS[role]:
                    assert r.status_code not in (401, 403), (role, method, url, r.text)
                else:
                    assert r.status_code == 403, (role, method, url, r.status_code)
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert role in r.json()["detail"]


def test_keys_are_stored_hashed_and_revocable(app_client, keys):
    from sqlalchemy import select

    from api.service.db import ApiKey

    with app_client.app.state.svc.Session() as s:
        hashes = s.scalars(select(ApiKey.key_hash)).all()
    assert not any(k in hashes for k in keys.values())
    kid = next(k["id"] for k in app_client.get("/v1/keys").json() if k["name"] == "k-mes")
    assert app_client.get("/v1/recipes", headers={"X-API-Key": keys["mes"]}).status_code == 200
    assert app_client.delete(f"/v1/keys/{kid}").status_code == 200
    assert app_client.get("/v1/recipes", headers={"X-API-Key": keys["mes"]}).status_code == 401


def test_health_and_metrics_are_public(app_client):
    c = app_client
    assert c.get("/healthz", headers={"X-API-Key": ""}).json() == {"status": "ok"}
    assert c.get("/readyz", headers={"X-API-Key": ""}).json()["status"] == "ready"
    m = c.get("/metrics", headers={"X-API-Key": ""}).text
    assert "pogoscope_inspection_latency_seconds_bucket" in m and "pogoscope_queue_depth" in m
