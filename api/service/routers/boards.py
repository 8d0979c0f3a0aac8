"""Results by board serial number: the latest result and the history, per board and per pin.

A serial may contain ``/``: ``GET /v1/boards/LOT7/BRD/0001`` and ``GET /v1/boards/LOT7%2FBRD%2F0001``
are the same board (the route takes the rest of the path; ``.../pins/{pin_id}`` at its end names
a pin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from api.problems import ProblemError
from api.service import present
from api.service.db import InspectionRow
from api.service.deps import Reader, SessionDep
from api.service.intake import SerialStr
from api.service.schemas import BoardPublic, PinHistoryEntry, PinPublic

router = APIRouter(prefix="/v1/boards", tags=["boards"])
SerialPath = Annotated[SerialStr, Path(description="the board serial; may contain '/' (raw or as %2F)")]


def _history(s, serial: str, limit: int) -> list[InspectionRow]:
    rows = s.scalars(
        select(InspectionRow).where(InspectionRow.serial == serial).order_by(InspectionRow.created_at.desc(), InspectionRow.id.desc()).limit(limit)
    ).all()
    if not rows:
        raise ProblemError(404, "unknown-board", f"no inspection of board {serial!r}")
    return rows


@router.get("/{serial:path}/pins/{pin_id}", response_model=PinPublic, summary="One pin of a board: latest result and history")
def get_pin(serial: SerialPath, pin_id: str, s: SessionDep, _: Reader, limit: int = Query(50, ge=1, le=500)):
    return _pin(serial, pin_id, s, limit)


@router.get("/{serial:path}", response_model=BoardPublic, summary="Latest result of a board and its history")
def get_board(serial: SerialPath, s: SessionDep, _: Reader, limit: int = Query(50, ge=1, le=500)):
    rows = _history(s, serial, limit)
    finished = [r for r in rows if r.status in ("done", "failed")]
    latest = finished[0] if finished else rows[0]
    by_id = present.reviews_by_inspection(s, [r.id for r in rows])  # one query for the latest's reviews and the history's
    reviews = by_id.get(latest.id, [])
    last = {k: v[-1] for k, v in by_id.items()}
    return present.json_response(
        BoardPublic(serial=serial, verdict=latest.verdict, **present.reviewed_fields(reviews[-1] if reviews else None),
                    latest=present.inspection_public(latest, reviews),
                    history=[present.inspection_summary(r, last.get(r.id)) for r in rows]))


def _pin(serial: str, pin_id: str, s, limit: int) -> PinPublic:
    rows = [r for r in _history(s, serial, limit) if r.status == "done" and r.result]
    history, latest, latest_id = [], None, None
    for r in rows:
        item = next((p for p in r.result.get("pins", []) + r.result.get("pads", []) if p["id"] == pin_id), None)
        if item is None:
            continue
        if latest is None:
            latest, latest_id = item, r.id
        history.append(PinHistoryEntry(inspection_id=r.id, created_at=r.created_at, verdict=item["verdict"], reasons=item.get("reasons", []),
                                       measurements=item.get("measurements", {})))
    if latest is None:
        raise ProblemError(404, "unknown-pin", f"board {serial!r} has no finished inspection with pin or pad {pin_id!r}")
    return PinPublic(serial=serial, pin_id=pin_id, latest=latest, inspection_id=latest_id, history=history)
