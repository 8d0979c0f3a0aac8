"""Result events shaped after IPC-CFX ``CFX.Production.Assurance.UnitsInspected``.

Mapping (where CFX fits):

* one inspected unit per board (``UnitIdentifier`` = serial); one ``Inspection`` per pin/pad check
  that has a measurement, with ``Measurements`` (value, units, expected value, min/max acceptable);
* ``DefectsFound`` per pin/pad reason, with ``ConfidenceLevel`` (the deciding cue's own confidence for a FAIL a
  view's cue settled);
* verdicts: PASS -> ``Passed``; FAIL -> ``Failed``; REVIEW -> ``Failed`` with ``ConfidenceLevel`` 0.5
  and ``VerificationResult`` ``"NotVerified"`` -- CFX has no "needs review" state, so a REVIEW is a
  failed result of low confidence awaiting human verification;
* a human verification later (``inspection.verified`` event) sets ``VerificationResult`` to
  ``Verified`` (verdict confirmed) or ``FalseCall``/``Overridden`` and names the reviewer.
"""

from __future__ import annotations

import datetime as dt

from models.measurands import MEASURANDS
from models.recipe import Limits

CFX_RESULT = {"PASS": "Passed", "FAIL": "Failed", "REVIEW": "Failed"}
CONFIDENCE = {"PASS": 1.0, "FAIL": 0.95, "REVIEW": 0.5}

def _iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds") if t else None


def _measurements(item: dict, limits: Limits) -> list[dict]:
    out = []
    for name, m in item.get("measurements", {}).items():
        if m.get("value") is None:
            continue
        entry = MEASURANDS.get(name)
        check = entry.check if entry is not None else None
        lim = limits.for_check(check) if check is not None else None
        lo = lim.lower if lim else None
        hi = lim.upper if lim else None
        expected = 0.0 if lim is not None and (lo is None or lo <= 0 <= (hi if hi is not None else 0)) else None
        if lim is not None and lo is not None and hi is not None and expected is None:
            expected = (lo + hi) / 2
        out.append(
            {
                "MeasurementName": entry.mes_name if entry is not None and entry.mes_name else name,
                "MeasuredValue": {
                    "Value": m["value"],
                    "ValueUnits": m.get("unit"),
                    "ExpectedValue": expected,
                    "MinimumAcceptableValue": lo,
                    "MaximumAcceptableValue": hi,
                },
                "StandardUncertainty": m.get("uncertainty"),
                "Source": m.get("source"),
            }
        )
    return out


def units_inspected(*, inspection_id: str, serial: str, station_id: str | None, recipe: dict, result: dict | None,
                    status: str, error: str | None, started: dt.datetime | None, finished: dt.datetime | None,
                    review: dict | None = None) -> dict:
    """The CFX-shaped message body for one finished inspection (or a failed one: ``Aborted``)."""
    limits = Limits.model_validate((recipe or {}).get("limits", {}))
    if result is None:
        overall, inspections = "Aborted", []
        verdict = None
    else:
        verdict = result["board"]["verdict"]
        overall = CFX_RESULT[verdict]
        inspections = []
        for kind in ("pins", "pads"):
            for item in result.get(kind, []):
                v = item["verdict"]
                inspections.append(
                    {
                        "UniqueIdentifier": f"{inspection_id}:{item['id']}",
                        "InspectionName": f"{kind[:-1]} {item['id']}",
                        "ComponentOfInterest": {"ReferenceDesignator": item["id"]},
                        "TestResult": CFX_RESULT[v],
                        "Measurements": _measurements(item, limits),
                        "DefectsFound": [
                            {
                                "DefectCode": reason,
                                "Description": _detail(item, reason),
                                "ComponentOfInterest": {"ReferenceDesignator": item["id"]},
                                "ConfidenceLevel": _confidence(item, reason, v),
                                "VerificationResult": "NotVerified" if v == "REVIEW" else "NotApplicable",
                            }
                            for reason in item.get("reasons", [])
                        ],
                    }
                )
    verification = None
    if review is not None:
        verification = {
            "VerificationResult": "Verified" if review["verdict"] == verdict else "Overridden",
            "VerifiedResult": CFX_RESULT.get(review["verdict"], review["verdict"]),
            "Verifier": review["reviewer"],
            "Reason": review["reason"],
            "VerifiedAt": review.get("created_at"),
        }
    elif verdict == "REVIEW":
        verification = {"VerificationResult": "NotVerified", "VerifiedResult": None, "Verifier": None}
    return {
        "MessageName": "CFX.Production.Assurance.UnitsInspected",
        "Version": "2.0",
        "TimeStamp": _iso(dt.datetime.now(dt.timezone.utc)),
        "Source": f"pogoscope/{station_id or 'service'}",
        "MessageBody": {
            "TransactionId": inspection_id,
            "InspectionMethod": "AOI",
            "SampleInspected": False,
            "InspectionStartTime": _iso(started),
            "InspectionEndTime": _iso(finished),
            "RecipeName": f"{(recipe or {}).get('recipe_id', '?')}@{(recipe or {}).get('version', '?')}",
            "InspectedUnits": [
                {
                    "UnitIdentifier": serial,
                    "UnitPositionNumber": 1,
                    "OverallResult": overall,
                    "PogoscopeVerdict": verdict,
                    "PogoscopeStatus": status,
                    "Error": error,
                    "Inspections": inspections,
                    "HumanVerification": verification,
                }
            ],
        },
    }


def _confidence(item: dict, reason: str, verdict: str) -> float:
    """A FAIL that a view's cue settled (a missing pin, solder in the plunger gap) carries that cue's own
    confidence; a measured value's FAIL is as sure as its guard band (0.95); a REVIEW is 0.5 by definition."""
    cue = (item.get("cues") or {}).get(reason)
    if verdict == "FAIL" and cue is not None and cue.get("present") and cue.get("kind") == "measured":
        return float(cue["confidence"])
    return CONFIDENCE[verdict]


def _detail(item: dict, reason: str) -> str:
    for d in item.get("decisions", []):
        if d.get("reason") == reason:
            return d.get("detail", "")
    return ""
