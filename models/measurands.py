"""The measurement table: every quantity the product measures, in one place.

One `Measurand` per measured quantity: its key (the name in every result document), unit, the item it
belongs to, the check and default acceptance limit it feeds, the cue that decides that check when no view
measured it, which view wins when views disagree, its MES (IPC-CFX) name and its CLI column. Views emit
measurements by these keys (``MEASURANDS[name].of(value, u, source=...)``); fusion, the decision rules, the
recipe's `Limits`, the CFX events and the CLI table read this module.

**Adding a measurement** is one entry here plus the code in ``vision/`` that measures it. A check decided by
a cue alone (no number) is one entry in `CUE_CHECKS`.

Which view wins (``prefer``):

* ``"side"`` (heights: the default): the side view first, then the top view, then focus stacks;
* ``"top"`` (quantities in the board plane): the top view's measured value replaces the others;
* ``"worst"`` (the size of a flaw that one view may miss and another see): the largest measured value of
  any view, e.g. a scratch shallower than a focus stack's depth resolution still shows in the top camera's
  colour, and must not be overruled by the stack's "none".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.decision import Check, Limit
from models.measurement import Measurement

__all__ = ["Measurand", "CueCheck", "MEASURANDS", "CUE_CHECKS", "DEFAULT_LIMITS", "checks_for", "top_first", "worst_of",
           "cli_columns", "limit_check_of", "unmeasured"]

Item = Literal["pin", "pad", "board"]


@dataclass(frozen=True)
class Measurand:
    """One measured quantity.

    Attributes
    ----------
    name : key in ``measurements`` (unit in the name: ``_mm``, ``_deg``, ``_um``, ``_pct``, ``_fraction``).
    unit : ``"mm"``, ``"deg"``, ``"um"``, ``"%"`` or ``"1"`` (dimensionless).
    item : what it describes: a ``"pin"``, a ``"pad"`` or the ``"board"``.
    check : the check it decides (None: informative, or an input to another quantity).
    limit : the check's default acceptance interval (the recipe's ``limits.<check>`` overrides it).
    cue : the cue that decides the check when no view measured the value (a view can only see or suspect it).
    prefer : which view wins when views disagree (module docstring).
    mes_name : the name sent to the MES (IPC-CFX ``MeasurementName``).
    column : (header, decimals) of the ``pogoscope inspect`` table, or None.
    doc : what it is, in a line.
    """

    name: str
    unit: str
    item: Item
    doc: str
    check: Check | None = None
    limit: Limit | None = None
    cue: str | None = None
    prefer: Literal["side", "top", "worst"] = "side"
    mes_name: str | None = None
    column: tuple[str, int] | None = None

    def of(self, value: float, uncertainty: float, *, source: str | None = None) -> Measurement:
        """This quantity measured: `value` ± `uncertainty` (standard, k=1) in its unit."""
        return Measurement.of(value, uncertainty, self.unit, source=source)

    def missing(self, reason: str) -> Measurement:
        """This quantity not measured, and why."""
        return Measurement.missing(reason, self.unit)


@dataclass(frozen=True)
class CueCheck:
    """A check that a cue alone decides (a yes/no finding, no number)."""

    check: Check
    cue: str
    item: Item
    limit: Limit | None = None  # only where the cue is computed against a limit (view_disagreement: its k)


def _m(name, unit, item, doc, **kw) -> Measurand:
    return Measurand(name, unit, item, doc, mes_name=kw.pop("mes_name", name), **kw)


# The order of the entries is the order of the CLI columns; checks are decided in `Check`'s order.
_TABLE: tuple[Measurand, ...] = (
    # --- pins: position in the board plane (top view first) -------------------------------------------------
    _m("xy_error_mm", "mm", "pin", "|flange-bottom centre - nominal pad centre| in the board plane",
       check=Check.xy_position, limit=Limit(upper=0.10), prefer="top", column=("xy err mm", 3)),
    _m("xy_error_x_mm", "mm", "pin", "x component of the position error", prefer="top"),
    _m("xy_error_y_mm", "mm", "pin", "y component of the position error", prefer="top"),
    _m("tilt_deg", "deg", "pin", "angle of the pin axis from the board normal",
       check=Check.tilt, limit=Limit(upper=2.0), prefer="top", column=("tilt °", 2)),
    _m("tilt_azimuth_deg", "deg", "pin", "direction of the lean, in the board plane from +x towards +y",
       prefer="top", column=("az °", 0)),
    # --- pins: heights (side view first) ---------------------------------------------------------------------
    _m("tip_height_mm", "mm", "pin", "tip apex above the board surface", column=("tip h mm", 3)),
    _m("tip_height_error_mm", "mm", "pin", "tip height minus the pin type's nominal",
       check=Check.tip_height, limit=Limit(lower=-0.10, upper=0.10), cue="tip_height"),
    _m("seating_gap_mm", "mm", "pin", "gap between the flange underside and the pad top",
       check=Check.not_seated, limit=Limit(upper=0.05), cue="not_seated", column=("gap mm", 3)),
    _m("wicking_above_flange_mm", "mm", "pin", "height solder climbed above the flange top",
       check=Check.solder_wicking, limit=Limit(upper=0.40), cue="solder_wicking", column=("wick mm", 2)),
    _m("coplanarity_mm", "mm", "pin", "deviation of the tip from the seating plane most tips agree with (board: the worst)",
       check=Check.coplanarity, limit=Limit(upper=0.10), column=("coplan mm", 3)),
    _m("pitch_error_mm", "mm", "pin", "worst |pitch - nominal| charged to the pin",
       check=Check.pitch, limit=Limit(upper=0.10), prefer="top"),
    _m("pitch_x_mm", "mm", "pin", "distance to the next pin in the row"),
    _m("pitch_y_mm", "mm", "pin", "distance to the next pin in the column"),
    _m("pitch_x_error_mm", "mm", "pin", "side view: the pin's x error, which spoils the row pitch by as much"),
    _m("tip_pad_margin_mm", "mm", "pin", "distance from the tip to the nearest mating-pad edge (negative: off the pad)",
       check=Check.contact_alignment, limit=Limit(lower=0.0), prefer="top"),
    _m("compression_pct", "%", "pin", "plunger travel when mated, in % of the working travel",
       check=Check.compression, limit=Limit(lower=60.0, upper=80.0)),
    _m("plunger_depression_mm", "mm", "pin", "plunger below its nominal protrusion",
       check=Check.plunger_depression, limit=Limit(upper=0.15)),
    _m("plunger_protrusion_mm", "mm", "pin", "plunger length above the barrel top"),
    _m("tip_plane_deviation_mm", "mm", "pin", "signed deviation of the tip from the seating plane"),
    # --- pins: inputs to the fusion of views -----------------------------------------------------------------
    _m("lean_x_mm", "mm", "pin", "tip minus base centre, x (board frame)", prefer="top"),
    _m("lean_y_mm", "mm", "pin", "tip minus base centre, y (board frame)", prefer="top"),
    _m("tilt_xz_deg", "deg", "pin", "tilt in the x-z plane (+ towards +x)"),
    _m("tilt_yz_deg", "deg", "pin", "tilt in the y-z plane (+ towards +y)"),
    _m("tilt_xz_top_deg", "deg", "pin", "the top view's tilt across the side camera's view, for the cross-check"),
    _m("x_error_mm", "mm", "pin", "side view: x against the row's fitted regular positions", prefer="top"),
    _m("flange_dip_mm", "mm", "pin", "side view: how far the flange's low edge dips below its centre"),
    _m("across_tilt_abs_deg", "deg", "pin", "side view: |tilt across the view| from the flange's silhouette"),
    _m("barrel_top_across_tilt_abs_deg", "deg", "pin", "side view: |tilt across the view| from the barrel-top shoulders"),
    # --- pads ------------------------------------------------------------------------------------------------
    _m("flatness_pv_um", "um", "pad", "peak-to-valley of the pad surface",
       check=Check.warp_or_dent, limit=Limit(upper=15.0), column=("PV µm", 1)),
    _m("scratch_max_length_mm", "mm", "pad", "longest scratch",
       check=Check.scratch, limit=Limit(upper=0.10, inclusive_upper=False), prefer="worst", column=("scratch mm", 2)),
    _m("scratch_count", "1", "pad", "number of scratches"),
    _m("oxidation_area_fraction", "1", "pad", "discoloured share of the pad area",
       check=Check.oxidation, limit=Limit(upper=0.02, inclusive_upper=False), column=("oxid.", 3)),
    _m("roughness_sa_um", "um", "pad", "arithmetic mean height Sa",
       check=Check.roughness, limit=Limit(upper=1.0), column=("Sa µm", 2)),
)

MEASURANDS: dict[str, Measurand] = {m.name: m for m in _TABLE}

CUE_CHECKS: tuple[CueCheck, ...] = (
    CueCheck(Check.solder_in_plunger_gap, "solder_in_plunger_gap", "pin"),
    # the top and side views disagree on the tilt across the side camera beyond k combined uncertainties
    CueCheck(Check.view_disagreement, "view_disagreement", "pin", limit=Limit(upper=0.0, guard_band_k=2.0)),
)

#: the default acceptance limit of every check that has one (the recipe's `Limits` fields)
DEFAULT_LIMITS: dict[Check, Limit] = {
    c: lim for c in Check
    for lim in [next((m.limit for m in _TABLE if m.check is c), None) or next((q.limit for q in CUE_CHECKS if q.check is c), None)]
    if lim is not None
}


def checks_for(item: Item) -> dict[Check, tuple[str | None, str | None]]:
    """check -> (measurement key, cue name) for one kind of item, in `Check`'s order (the order of decisions)."""
    out: dict[Check, tuple[str | None, str | None]] = {}
    for c in Check:
        m = next((m for m in _TABLE if m.check is c and m.item == item), None)
        if m is not None:
            out[c] = (m.name, m.cue)
            continue
        q = next((q for q in CUE_CHECKS if q.check is c and q.item == item), None)
        if q is not None:
            out[c] = (None, q.cue)
    return out


def worst_of() -> frozenset[str]:
    """Measurands whose largest measured value over the views wins (``prefer="worst"``)."""
    return frozenset(m.name for m in _TABLE if m.prefer == "worst")


def top_first() -> frozenset[str]:
    """Keys whose top-view value wins over the other views' (quantities in the board plane)."""
    return frozenset(m.name for m in _TABLE if m.prefer == "top")


def cli_columns(item: Item) -> list[tuple[str, str, int]]:
    """(key, header, decimals) of the CLI table's columns for pins or pads."""
    return [(m.name, *m.column) for m in _TABLE if m.column is not None and m.item == item]


def limit_check_of(name: str) -> Check | None:
    """The check whose limit applies to measurement `name` (None: informative)."""
    m = MEASURANDS.get(name)
    return m.check if m is not None else None


def unmeasured(names, reason: str, *, source: str | None = None) -> dict[str, Measurement]:
    """Placeholders for the quantities `names` that a view (`source`) cannot measure, each saying why."""
    return {n: MEASURANDS[n].missing(reason).model_copy(update={"source": source}) if source else MEASURANDS[n].missing(reason)
            for n in names}
