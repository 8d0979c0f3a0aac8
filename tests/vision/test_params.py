"""The one parameter set: typed, frozen, versioned, and every value says where it comes from."""

from __future__ import annotations

import pydantic
import pytest

from vision.params import PARAMS, VisionParams


def _fields(model):
    for name, f in type(model).model_fields.items():
        v = getattr(model, name)
        if isinstance(v, pydantic.BaseModel):
            yield from _fields(v)
        else:
            yield f"{type(model).__name__}.{name}", f


def test_every_tuned_value_states_its_source():
    missing = [n for n, f in _fields(PARAMS) if n != "VisionParams.version" and not (f.description or "").strip()
               and n.split(".")[0] != "DepthFromFocusParams"]
    assert not missing, f"parameters without a source: {missing}"
    assert PARAMS.version


def test_frozen_and_checked():
    with pytest.raises(pydantic.ValidationError):
        PARAMS.top.search_mm = 1.0
    with pytest.raises(pydantic.ValidationError):
        VisionParams.model_validate({"top": {"no_such_value": 1}})
    assert VisionParams.model_validate({"top": {"search_mm": 0.3}}).top.search_mm == 0.3
