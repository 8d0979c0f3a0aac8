"""Dependencies shared by the routers: the service state, a database session per request, and
API-key authentication with roles.

Roles and what they may do (every route declares the permission it needs with `Allowed(...)`):

==========  =======================================================
station     submit
mes         submit, read
engineer    submit, read, upload, recipes, calibrations, review
admin       everything, keys and deliveries (re-queue dead events)
==========  =======================================================

The key travels in the ``X-API-Key`` header; browsers' ``EventSource`` and ``<img>`` cannot set
headers, so GET requests may also pass it as ``?api_key=``. Keys are stored as sha256 digests.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Iterator

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader, APIKeyQuery
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.problems import ProblemError
from api.service.db import ApiKey

ROLES = ("station", "mes", "engineer", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "station": frozenset({"submit"}),
    "mes": frozenset({"submit", "read"}),
    "engineer": frozenset({"submit", "read", "upload", "recipes", "calibrations", "review"}),
    "admin": frozenset({"submit", "read", "upload", "recipes", "calibrations", "review", "keys", "deliveries"}),
}


def new_key() -> str:
    """A new API key's secret (shown once; only its hash is stored)."""
    return "pgs_" + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def get_state(request: Request):
    return request.app.state.svc


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.svc.Session() as s:
        yield s


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    role: str

    @property
    def who(self) -> str:
        return f"{self.name} ({self.role})"


class _KeyCache:
    """Looked-up keys for a few seconds, so reads under load do not query the key table each time;
    a revoked key stops working within `ttl_s`."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s, self._d, self._lock = ttl_s, {}, threading.Lock()

    def get(self, h: str):
        with self._lock:
            v = self._d.get(h)
            return v[1] if v and v[0] > time.monotonic() else None

    def put(self, h: str, p: Principal | None) -> None:
        with self._lock:
            self._d[h] = (time.monotonic() + self.ttl_s, p)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


key_cache = _KeyCache()
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (roles: station, mes, engineer, admin)")
_query = APIKeyQuery(name="api_key", auto_error=False, description="API key for GET requests from browsers (EventSource, <img>)")


def authenticate(request: Request, header_key: Annotated[str | None, Depends(_header)] = None,
                 query_key: Annotated[str | None, Depends(_query)] = None) -> Principal:
    key = header_key or (query_key if request.method == "GET" else None)
    if not key:
        raise ProblemError(401, "unauthorized", "no API key: send it in the X-API-Key header", headers={"WWW-Authenticate": "X-API-Key"})
    h = hash_key(key)
    p = key_cache.get(h)
    if p is None:
        with request.app.state.svc.Session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == h, ApiKey.revoked_at.is_(None)))
            p = Principal(row.id, row.name, row.role) if row else None
        if p is not None:
            key_cache.put(h, p)
    if p is None:
        raise ProblemError(401, "unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "X-API-Key"})
    return p


class Allowed:
    """Dependency: the caller's key must carry `permission`."""

    def __init__(self, permission: str) -> None:
        if not any(permission in p for p in PERMISSIONS.values()):
            raise ValueError(f"unknown permission {permission!r}")
        self.permission = permission

    def __call__(self, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if self.permission not in PERMISSIONS.get(principal.role, ()):
            roles = [r for r, ps in PERMISSIONS.items() if self.permission in ps]
            raise ProblemError(403, "forbidden", f"role {principal.role!r} may not {self.permission}; this needs one of {roles}")
        return principal


def allowed(permission: str):
    """``Annotated[Principal, Depends(Allowed(permission))]`` -- for route signatures."""
    return Annotated[Principal, Depends(Allowed(permission))]


# Database integers are 32-bit on every backend: bound ids and versions at the boundary.
MAX_INT = 2_147_483_647
VersionPath = Annotated[int, Path(ge=1, le=MAX_INT, description="version number (1, 2, ...)")]
IdPath = Annotated[int, Path(ge=1, le=MAX_INT)]

Reader = allowed("read")
Submitter = allowed("submit")
Uploader = allowed("upload")
RecipeEditor = allowed("recipes")
CalibrationEditor = allowed("calibrations")
Reviewer = allowed("review")
KeyAdmin = allowed("keys")
DeliveryAdmin = allowed("deliveries")
