"""Exponential back-off: the one rule for every retry of the service, the workers and the station."""

from __future__ import annotations

__all__ = ["backoff_s"]


def backoff_s(retry: int, *, base_s: float, max_s: float) -> float:
    """Delay before retry number `retry` (0 for the first): `base_s` doubled per retry, capped at `max_s`."""
    return min(max_s, base_s * 2 ** retry)
