"""CFX DefectsFound carry the deciding cue's confidence for a FAIL a view's cue settled."""

from __future__ import annotations

from api.service.cfx import units_inspected


def _result(verdict, reasons, cues):
    item = {"id": "P01", "verdict": verdict, "reasons": reasons, "measurements": {}, "cues": cues, "decisions": []}
    return {"board": {"verdict": verdict}, "pins": [item], "pads": []}


def _defects(result):
    msg = units_inspected(inspection_id="i1", serial="S1", station_id="st", recipe={"recipe_id": "r", "version": 1},
                          result=result, status="done", error=None, started=None, finished=None)
    return msg["MessageBody"]["InspectedUnits"][0]["Inspections"][0]["DefectsFound"]


def test_a_cue_settled_fail_carries_the_cues_confidence():
    cue = {"present": True, "kind": "measured", "confidence": 0.8, "score": 0.7, "source": "top", "detail": ""}
    assert _defects(_result("FAIL", ["missing"], {"missing": cue}))[0]["ConfidenceLevel"] == 0.8


def test_a_measured_fail_and_a_review_keep_their_fixed_levels():
    assert _defects(_result("FAIL", ["tilt"], {}))[0]["ConfidenceLevel"] == 0.95
    sus = {"present": True, "kind": "suspicion", "confidence": 0.6, "score": 0.4, "source": "top", "detail": ""}
    assert _defects(_result("REVIEW", ["solder_wicking"], {"solder_wicking": sus}))[0]["ConfidenceLevel"] == 0.5
