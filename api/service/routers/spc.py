"""Process control: SPC charts per measurement and pin position, drift alarms, yield and Pareto."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from api.problems import ProblemError
from api.service import analytics
from api.service.db import RecipeRow
from api.service.deps import Reader, SessionDep, get_state

router = APIRouter(tags=["process control"])
State = Annotated[object, Depends(get_state)]
Since = Annotated[dt.datetime | None, Query(description="points at or after (ISO 8601)")]
Until = Annotated[dt.datetime | None, Query(description="points before (ISO 8601)")]


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    return t if t is None or t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _known_recipe(s, recipe_id: str) -> None:
    if s.scalar(select(RecipeRow.id).where(RecipeRow.recipe_id == recipe_id).limit(1)) is None:
        raise ProblemError(404, "unknown-recipe", f"no recipe {recipe_id!r}")


@router.get("/v1/spc/{recipe_id}", summary="Measurements with stored values for a recipe")
def spc_measurements(recipe_id: str, s: SessionDep, _: Reader) -> dict:
    _known_recipe(s, recipe_id)
    return {"recipe_id": recipe_id, "measurements": analytics.measurements_of(s, recipe_id)}


@router.get("/v1/spc/{recipe_id}/{measurement}", summary="SPC of one measurement: per pin position, or one pin's chart")
def spc_chart(
    recipe_id: str, measurement: str, s: SessionDep, state: State, _: Reader,
    pin: Annotated[str | None, Query(max_length=50, description="one pin or pad: its chart with points")] = None,
    station_id: Annotated[str | None, Query(max_length=100)] = None,
    since: Since = None, until: Until = None,
    baseline: Annotated[int | None, Query(ge=2, le=100000, description="first points per pin that set the limits (default POGOSCOPE_SPC_BASELINE_POINTS)")] = None,
    baseline_until: Annotated[dt.datetime | None, Query(description="instead: the points before this time set the limits")] = None,
    subgroup: Annotated[int, Query(ge=1, le=25, description="1: individuals (I-MR); 2-10: X-bar-R; 11-25: X-bar-S of consecutive points")] = 1,
    points: Annotated[int, Query(ge=10, le=10000, description="points of the pin's chart returned (the newest)")] = 500,
) -> dict:
    _known_recipe(s, recipe_id)
    rep = analytics.spc_report(s, recipe_id, measurement, pin=pin, station_id=station_id, since=_aware(since), until=_aware(until),
                               baseline=baseline or state.settings.spc_baseline_points, baseline_until=_aware(baseline_until),
                               subgroup=subgroup, points=points)
    if not rep["pins"]:
        known = analytics.measurements_of(s, recipe_id)
        if measurement not in known:
            raise ProblemError(404, "unknown-measurement", f"recipe {recipe_id!r} has no stored values of {measurement!r}; it has {known}")
        raise ProblemError(404, "no-data", f"no stored values of {measurement!r}" + (f" for pin {pin!r}" if pin else "") + " in this window")
    return rep


@router.get("/v1/alarms", summary="SPC drift alarms (one per episode), newest first")
def alarms(s: SessionDep, _: Reader, recipe_id: Annotated[str | None, Query(max_length=100)] = None,
           open: Annotated[bool, Query(description="only episodes still open")] = False,  # noqa: A002
           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    return {"items": analytics.list_alarms(s, recipe_id=recipe_id, open_only=open, limit=limit)}


@router.get("/v1/stats/yield", summary="Yield: first pass, by station, hour and shift; reviewed outcomes apart")
def yield_(s: SessionDep, _: Reader, recipe_id: Annotated[str | None, Query(max_length=100)] = None,
           station_id: Annotated[str | None, Query(max_length=100)] = None, since: Since = None, until: Until = None) -> dict:
    return analytics.yield_report(s, recipe_id=recipe_id, station_id=station_id, since=_aware(since), until=_aware(until))


@router.get("/v1/stats/pareto", summary="FAIL and REVIEW by reason, pin position and station")
def pareto(s: SessionDep, _: Reader, recipe_id: Annotated[str | None, Query(max_length=100)] = None,
           station_id: Annotated[str | None, Query(max_length=100)] = None, since: Since = None, until: Until = None) -> dict:
    return analytics.pareto_report(s, recipe_id=recipe_id, station_id=station_id, since=_aware(since), until=_aware(until))
