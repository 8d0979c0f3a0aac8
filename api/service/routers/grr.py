"""Gage R&R studies: define one (boards x repeats x operators or stations), let its inspections arrive
through the normal submission path, read the AIAG report per measurement."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.problems import ProblemError
from api.service import analytics
from api.service.analytics_db import GrrRunRow, GrrStudyRow, PinValueRow
from api.service.db import InspectionRow, RecipeRow
from api.service.deps import Reader, Reviewer, SessionDep, Submitter

router = APIRouter(prefix="/v1/grr/studies", tags=["gage R&R"])


class GrrStudyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$", description="the study tag")
    recipe_id: str = Field(min_length=1, max_length=100)
    serials: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=2, max_length=1000,
                                                                               description="the boards (parts); each pin is a part")
    repeats: int = Field(ge=2, le=50, description="trials per board and operator")
    operators: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50,
        description="station ids whose inspections count, one operator each; empty: every station is one operator, "
                    "or tag runs with POST .../runs")
    description: str = Field(default="", max_length=2000)


class GrrStudyPublic(GrrStudyCreate):
    created_at: dt.datetime
    created_by: str | None
    runs: int = Field(description="inspections counted so far")


class GrrRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inspection_id: str = Field(min_length=1, max_length=32)
    operator: str = Field(min_length=1, max_length=100)
    trial: int | None = Field(default=None, ge=1, le=50)


def _study(s, sid: str) -> GrrStudyRow:
    row = s.get(GrrStudyRow, sid)
    if row is None:
        raise ProblemError(404, "unknown-study", f"no Gage R&R study {sid!r}")
    return row


def _runs(s, st: GrrStudyRow) -> list[tuple[str, str, str]]:
    """(inspection id, serial, operator) of the study's inspections, at most `repeats` per board and operator, oldest first."""
    tagged = {r.inspection_id: r.operator for r in s.scalars(select(GrrRunRow).where(GrrRunRow.study_id == st.id)).all()}
    q = select(InspectionRow.id, InspectionRow.serial, InspectionRow.station_id).where(
        InspectionRow.status == "done", InspectionRow.recipe_id == st.recipe_id, InspectionRow.serial.in_(st.serials),
        InspectionRow.created_at >= st.created_at)
    rows = s.execute(q.order_by(InspectionRow.created_at, InspectionRow.id)).all()
    if tagged:
        extra = s.execute(select(InspectionRow.id, InspectionRow.serial, InspectionRow.station_id)
                          .where(InspectionRow.id.in_(list(tagged)), InspectionRow.status == "done")).all()
        seen = {r[0] for r in rows}
        rows += [r for r in extra if r[0] not in seen]
    out, count = [], defaultdict(int)
    for iid, serial, station in rows:
        if iid in tagged:
            op = tagged[iid]
        elif st.operators:
            if station not in st.operators:
                continue
            op = station
        else:
            op = station or "-"
        if count[(serial, op)] >= st.repeats:
            continue
        count[(serial, op)] += 1
        out.append((iid, serial, op))
    return out


def _public(s, st: GrrStudyRow) -> GrrStudyPublic:
    return GrrStudyPublic(id=st.id, recipe_id=st.recipe_id, serials=st.serials, repeats=st.repeats, operators=st.operators,
                          description=st.description, created_at=st.created_at, created_by=st.created_by, runs=len(_runs(s, st)))


@router.post("", status_code=201, response_model=GrrStudyPublic, summary="Define a Gage R&R study")
def create_study(body: GrrStudyCreate, s: SessionDep, who: Reviewer):
    if s.scalar(select(RecipeRow.id).where(RecipeRow.recipe_id == body.recipe_id).limit(1)) is None:
        raise ProblemError(422, "unknown-recipe", f"no recipe {body.recipe_id!r}; upload it first", field="recipe_id")
    if len(set(body.serials)) != len(body.serials):
        raise ProblemError(422, "invalid-request", "serials must be distinct", field="serials")
    st = GrrStudyRow(id=body.id, recipe_id=body.recipe_id, serials=body.serials, repeats=body.repeats, operators=body.operators,
                     description=body.description, created_by=who.name)
    s.add(st)
    try:
        s.commit()
    except IntegrityError:
        s.rollback()
        raise ProblemError(409, "study-exists", f"a study {body.id!r} exists already; choose another id") from None
    return _public(s, st)


@router.get("", response_model=list[GrrStudyPublic], summary="Gage R&R studies, newest first")
def list_studies(s: SessionDep, _: Reader):
    return [_public(s, st) for st in s.scalars(select(GrrStudyRow).order_by(GrrStudyRow.created_at.desc())).all()]


@router.post("/{study_id}/runs", status_code=201, summary="Count an inspection in a study under an operator")
def add_run(study_id: str, body: GrrRunCreate, s: SessionDep, _: Submitter) -> dict:
    st = _study(s, study_id)
    ins = s.get(InspectionRow, body.inspection_id)
    if ins is None:
        raise ProblemError(422, "unknown-inspection", f"no inspection {body.inspection_id!r}", field="inspection_id")
    if ins.serial not in st.serials or ins.recipe_id != st.recipe_id:
        raise ProblemError(422, "not-in-study", f"inspection {ins.id} is board {ins.serial!r} on recipe {ins.recipe_id!r}; "
                                                f"study {st.id} covers {len(st.serials)} boards of recipe {st.recipe_id!r}")
    s.add(GrrRunRow(study_id=st.id, inspection_id=ins.id, serial=ins.serial, operator=body.operator, trial=body.trial))
    try:
        s.commit()
    except IntegrityError:
        s.rollback()
        raise ProblemError(409, "run-exists", f"inspection {ins.id} is already counted in a study") from None
    return {"study_id": st.id, "inspection_id": ins.id, "operator": body.operator}


@router.get("/{study_id}", summary="The study and its AIAG report per measurement")
def study_report(study_id: str, s: SessionDep, _: Reader,
                 measurement: Annotated[list[str] | None, Query(description="only these measurements")] = None) -> dict:
    from api.stats.grr import report

    st = _study(s, study_id)
    runs = _runs(s, st)
    by_id = {iid: (serial, op) for iid, serial, op in runs}
    values: dict[tuple[str, str], dict] = defaultdict(dict)
    ids = list(by_id)
    for i in range(0, len(ids), 500):
        q = select(PinValueRow.inspection_id, PinValueRow.item_id, PinValueRow.measurement, PinValueRow.value).where(
            PinValueRow.inspection_id.in_(ids[i:i + 500]))
        if measurement:
            q = q.where(PinValueRow.measurement.in_(measurement))
        for iid, item, m, v in s.execute(q).all():
            values[(iid, item)][m] = v
    records = [{"part": f"{by_id[iid][0]}/{item}", "operator": by_id[iid][1], "values": vals} for (iid, item), vals in values.items()]
    names = measurement or sorted({m for r in records for m in r["values"]})
    specs = {m: analytics.spec_limits(s, st.recipe_id, m)[:2] for m in names}
    rep = report(records, specs=specs, measurements=names) if records else {"measurements": {}, "skipped": {}}
    expected = len(st.serials) * st.repeats * max(1, len(st.operators))
    return {"study": _public(s, st).model_dump(mode="json"), "inspections": len(runs), "expected_inspections": expected,
            "complete": len(runs) >= expected, **rep}
