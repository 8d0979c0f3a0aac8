"""API keys (admin): create (the secret is shown once, stored hashed), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.problems import ProblemError
from api.service.db import ApiKey, utcnow
from api.service.deps import IdPath, KeyAdmin, SessionDep, hash_key, key_cache, new_key
from api.service.schemas import KeyCreate, KeyCreated, KeyPublic

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def _public(k: ApiKey) -> KeyPublic:
    return KeyPublic(id=k.id, name=k.name, role=k.role, created_at=k.created_at, revoked_at=k.revoked_at)


@router.post("", status_code=201, response_model=KeyCreated, summary="Create an API key")
def create_key(body: KeyCreate, s: SessionDep, _: KeyAdmin):
    secret = new_key()
    k = ApiKey(name=body.name, role=body.role, key_hash=hash_key(secret))
    s.add(k)
    s.commit()
    return KeyCreated(**_public(k).model_dump(), key=secret)


@router.get("", response_model=list[KeyPublic], summary="List API keys (never their secrets)")
def list_keys(s: SessionDep, _: KeyAdmin):
    return [_public(k) for k in s.scalars(select(ApiKey).order_by(ApiKey.id)).all()]


@router.delete("/{key_id}", response_model=KeyPublic, summary="Revoke an API key")
def revoke_key(key_id: IdPath, s: SessionDep, who: KeyAdmin):
    k = s.get(ApiKey, key_id)
    if k is None:
        raise ProblemError(404, "unknown-key", f"no API key {key_id}")
    if k.id == who.key_id:
        raise ProblemError(409, "own-key", "an admin cannot revoke the key it is using; use another admin key")
    if k.revoked_at is None:
        k.revoked_at = utcnow()
        s.commit()
    key_cache.clear()
    return _public(k)
