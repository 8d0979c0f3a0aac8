"""Polling helper shared by the station tests."""

from __future__ import annotations

import time


def until(cond, *, timeout_s: float = 20.0, what: str = "condition", poll_s: float = 0.05):
    """Call `cond` every `poll_s` until it returns something true (returned); AssertionError after `timeout_s`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        v = cond()
        if v:
            return v
        time.sleep(poll_s)
    raise AssertionError(f"{what}: not within {timeout_s} s")
