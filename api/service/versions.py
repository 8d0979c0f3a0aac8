"""Versioned documents (recipes by recipe_id, calibration records by camera_id): each create is the
next version; stored versions never change."""

from __future__ import annotations

from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from api.problems import ProblemError


def get_version(s, model, key_attr: str, key: str, version: int | None, *, what: str, slug: str):
    """Row `key`@`version` (newest when None), or 404 naming it."""
    col = getattr(model, key_attr)
    q = select(model).where(col == key)
    q = q.where(model.version == version) if version is not None else q.order_by(model.version.desc())
    row = s.scalars(q.limit(1)).first()
    if row is None:
        raise ProblemError(404, slug, f"no {what} {key!r}" + (f" version {version}" if version is not None else ""))
    return row


def insert_next_version(s, model, key_attr: str, key: str, make: Callable[[int], object], *, what: str):
    """Insert ``make(n)`` with n = newest version + 1; retry if a concurrent create took n."""
    col = getattr(model, key_attr)
    for _ in range(5):
        n = (s.scalar(select(func.max(model.version)).where(col == key)) or 0) + 1
        row = make(n)
        s.add(row)
        try:
            s.commit()
            return row
        except IntegrityError:
            s.rollback()
    raise ProblemError(409, "version-conflict", f"{what} {key!r}: concurrent updates; retry")
