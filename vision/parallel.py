"""Running per-slice work ahead in threads (OpenCV releases the GIL), results kept in order."""

from __future__ import annotations

import cv2

__all__ = ["prefetch"]


def prefetch(fn, n: int, threads: int | None):
    """Yield fn(0), fn(1), ... in order, computing up to `threads` ahead in a thread pool."""
    t = cv2.getNumThreads() if threads is None else int(threads)
    if t <= 1 or n < 3:
        for k in range(n):
            yield fn(k)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=t) as ex:
        pending = deque(ex.submit(fn, k) for k in range(min(t, n)))
        nxt = len(pending)
        while pending:
            res = pending.popleft().result()
            if nxt < n:
                pending.append(ex.submit(fn, nxt))
                nxt += 1
            yield res
