"""The station's start-up check against the service: is the API key accepted, may it submit, does
the service know the station's recipe and calibration records?

Nothing here creates an inspection: every probe is a request the service refuses before it stores
anything (a form without a serial; a submission naming an image that cannot exist).

* **Key**: ``POST /v1/inspections`` with an empty form. Authentication runs first, so 401 (unknown
  or revoked key) or 403 (a role that may not submit) comes back before the form is looked at;
  a 422 about the missing serial means the key may submit.
* **Recipe and calibrations**, when the key may read (roles mes, engineer, admin):
  ``GET /v1/recipes/{id}`` and ``GET /v1/calibrations?all=true``, comparing each record's content
  fingerprint with the station's files (`api.service.calref`).
* **Recipe (and calibrations, where the service checks them first)** with a station-role key,
  which may only submit: a submission with the station's ``recipe_id`` and ``calibrations`` and an
  ``image_set`` naming an all-zero sha256 that no image has. The service answers 422 with the first
  thing it does not know: ``unknown-recipe``, ``view-not-in-recipe``, ``unknown-calibration`` /
  ``no-calibration`` (the service resolves the records before it looks at images), or, when it knows
  all of those, ``unknown-image``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from api.service.calref import fingerprint

NO_IMAGE = "0" * 64  # the sha256 of nothing anyone can upload
FIXABLE = {"unknown-recipe", "view-not-in-recipe", "unknown-calibration", "no-calibration"}


@dataclass
class Preflight:
    ok: bool = True
    unreachable: bool = False
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.ok = False
        self.problems.append(why)

    @property
    def reason(self) -> str | None:
        if self.unreachable:
            return "; ".join(self.notes) or "service unreachable"
        return "; ".join(self.problems) or None


def _detail(r: httpx.Response) -> tuple[str, str]:
    try:
        doc = r.json()
    except ValueError:
        return "", r.text[:200]
    slug = str(doc.get("type", "")).rstrip("/").rsplit("/", 1)[-1] if isinstance(doc, dict) else ""
    return slug, str(doc.get("detail") or doc.get("title") or doc)[:300] if isinstance(doc, dict) else str(doc)[:300]


def check_service(client: httpx.Client, *, station_id: str, recipe_id: str | None, views: list[str],
                  calibrations: dict[str, str], key_hint: str) -> Preflight:
    """Run the checks with `client` (base_url = the service, X-API-Key set). `calibrations` are
    ``{key: "CAMERA#FINGERPRINT"}`` of the station's own records; `views` the views it submits."""
    pf = Preflight()
    try:
        r = client.post("/v1/inspections", data={})
    except httpx.HTTPError as exc:
        pf.unreachable, pf.ok = True, False
        pf.notes.append(f"service unreachable at {client.base_url}: {type(exc).__name__}; boards are kept and delivered when it is back")
        return pf
    slug, detail = _detail(r)
    if r.status_code == 401:
        pf.fail(f"the service refuses the station's API key (401: {detail}); {key_hint}")
        return pf
    if r.status_code == 403:
        pf.fail(f"the station's API key may not submit boards (403: {detail}); create a key with role 'station'")
        return pf
    if r.status_code >= 500:
        pf.unreachable, pf.ok = True, False
        pf.notes.append(f"service answered {r.status_code} to the start-up check; it is retried")
        return pf

    can_read = None
    if recipe_id:
        r = client.get(f"/v1/recipes/{recipe_id}")
        can_read = r.status_code != 403
        if r.status_code == 404:
            pf.fail(f"the service does not know recipe {recipe_id!r}: upload it with POST /v1/recipes")
        elif r.status_code == 200:
            offered = r.json().get("body", {}).get("views", ["top"])
            missing = [v for v in views if v not in offered]
            if missing:
                pf.fail(f"the service's recipe {recipe_id!r} has no {missing[0]!r} view (it offers {offered}); upload the station's recipe")
    if calibrations and can_read is not False:
        r = client.get("/v1/calibrations", params={"all": "true"})
        if r.status_code == 200:
            stored = {}
            for row in r.json():
                stored.setdefault(row["camera_id"], set()).add(fingerprint(row["record"]))
            for key, ref in sorted(calibrations.items()):
                cam, _, fp = ref.partition("#")
                if fp not in stored.get(cam, set()):
                    pf.fail(f"the service has no calibration record of camera {cam!r} with the content of the station's {key!r} record "
                            f"(fingerprint {fp[:12]}...): upload it with POST /v1/calibrations")
            return pf
        can_read = r.status_code != 403
    if can_read is False and recipe_id:
        # a station-role key may only submit: a submission the service must refuse tells what it knows
        data = {"serial": "pogoscope-preflight", "recipe_id": recipe_id, "station_id": station_id,
                "image_set": json.dumps({views[0] if views else "top": NO_IMAGE})}
        if calibrations:
            data["calibrations"] = json.dumps(calibrations, sort_keys=True)
        r = client.post("/v1/inspections", data=data)
        slug, detail = _detail(r)
        if r.status_code == 422 and slug in FIXABLE:
            pf.fail(f"the service refuses the station's boards ({slug}): {detail}")
        elif r.status_code == 422 and slug == "unknown-image":
            pass  # the service knows the recipe and every calibration record: only the (impossible) image is missing
        elif r.status_code < 300:  # cannot happen: no image has that sha256
            pf.notes.append(f"start-up probe unexpectedly accepted ({r.status_code})")
        else:
            pf.notes.append(f"recipe not checked at start: the service answered {r.status_code} {slug or detail}")
    return pf


def for_station(cfg, *, recipe=None, calibration_records: dict | None = None):
    """A no-argument callable running `check_service` for a station config (``sink: service``):
    its recipe id and the fingerprints of its views' calibration records."""
    from api.boardset import calibration_key
    from api.service.calref import record_ref
    from api.station.delivery import sink_key

    sink = cfg.sink
    key = sink_key(sink)
    hint = (f"check the environment variable {sink.api_key_env}" if sink.api_key_env else "check sink.api_key in the station config")
    refs = {calibration_key(v): record_ref(rec) for v, rec in (calibration_records or {}).items()}

    def run() -> Preflight:
        if not key:
            pf = Preflight()
            pf.fail("no API key for the service: set sink.api_key, or sink.api_key_env and that environment variable")
            return pf
        with httpx.Client(base_url=sink.url.rstrip("/"), headers={"X-API-Key": key}, timeout=sink.timeout_s) as c:
            return check_service(c, station_id=cfg.station_id, recipe_id=recipe.recipe_id if recipe else None,
                                 views=list(cfg.views), calibrations=refs, key_hint=hint)

    return run
