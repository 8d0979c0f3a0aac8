"""Naming the exact calibration record a submission was taken with.

A submission names the record of each calibration key (``top``, ``side``, ``stack:NAME``) in its
``calibrations`` form field, one of:

* ``CAMERA@VERSION``: that stored version;
* ``CAMERA#FINGERPRINT``: the newest stored version of that camera whose content is the record the
  submitter holds (`fingerprint`), whatever version number the service gave it. A station sends
  this: it knows the record file it inspected with, not the service's numbering;
* ``CAMERA``: the newest version of that camera.

Without a name the service takes the newest record for that view of the submitting station, else
of any station (`api.service.submit.resolve_calibration`). That is only right while one record
per view is current; a station whose boards may come with different records names them.

No heavy imports here: the station imports this module.
"""

from __future__ import annotations

import hashlib
import json

__all__ = ["fingerprint", "record_ref"]


def fingerprint(record: dict) -> str:
    """sha256 hex of a calibration record's JSON document, without its ``version`` (the service
    renumbers versions as it stores them; the content is what identifies the record)."""
    body = {k: v for k, v in record.items() if k != "version"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def record_ref(record) -> str:
    """``CAMERA#FINGERPRINT`` of a `calibration.record.CalibrationRecord`."""
    return f"{record.camera_id}#{fingerprint(record.model_dump(mode='json'))}"
