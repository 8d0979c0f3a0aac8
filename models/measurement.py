"""Measured values with standard uncertainty, and measurements that could not be made."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Measurement(BaseModel):
    """A measured value with its standard uncertainty (k=1) and unit.

    A measurement that could not be made has ``value=None`` and says why in
    ``not_measured`` (e.g. ``"no side view"``) -- never a silent zero.
    ``source`` names the view the number came from (``top``, ``side``, ``stack:NAME``, ``top+side``).
    """

    model_config = ConfigDict(extra="forbid")

    value: float | None
    uncertainty: float | None = Field(default=None, ge=0)
    unit: str
    source: str | None = None
    not_measured: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "Measurement":
        if self.value is None:
            if not self.not_measured:
                raise ValueError("a measurement without a value must say why in 'not_measured'")
        else:
            if not math.isfinite(self.value):
                raise ValueError("value must be finite")
            if self.uncertainty is None or not math.isfinite(self.uncertainty):
                raise ValueError("a measured value must carry a finite standard uncertainty")
        return self

    @classmethod
    def of(cls, value: float, uncertainty: float, unit: str, *, source: str | None = None) -> "Measurement":
        """A measured value from plain numbers (numpy scalars too); a non-finite one is a ValueError that shows it.

        Views make hundreds per board: pydantic-core's validation of plain floats (about 2 us) costs less than
        `model_construct` (about 3 us, pydantic 2.14), so this validates."""
        v, u = float(value), float(abs(uncertainty))
        if not (math.isfinite(v) and math.isfinite(u)):
            raise ValueError(f"a measurement needs a finite value and uncertainty, got {v} ± {u} {unit}")
        return cls(value=v, uncertainty=u, unit=str(unit), source=source)

    @classmethod
    def missing(cls, reason: str, unit: str) -> "Measurement":
        """A measurement that could not be made, and why (an empty reason is a ValueError)."""
        if not reason:
            raise ValueError("a measurement without a value must say why in 'not_measured'")
        return cls(value=None, unit=str(unit), not_measured=str(reason))

    @property
    def measured(self) -> bool:
        return self.value is not None

    def __str__(self) -> str:  # e.g. "3.210 ± 0.080 deg"
        if self.value is None:
            return f"not measured ({self.not_measured})"
        return f"{self.value:.4g} ± {self.uncertainty:.2g} {self.unit}"


class Cue(BaseModel):
    """A yes/no finding (solder on the plunger ring, no pin on the pad, ...).

    ``kind='measured'`` means the view settles it (a present cue FAILs);
    ``kind='suspicion'`` means the view can only suspect it (a present cue is REVIEW).
    ``score`` is the evidence behind it (e.g. the grey fraction of a ring), ``confidence`` in [0, 1].
    """

    model_config = ConfigDict(extra="forbid")

    present: bool
    kind: str = Field(pattern="^(measured|suspicion)$")
    confidence: float = Field(ge=0, le=1)
    score: float | None = None
    source: str | None = None
    detail: str = ""
