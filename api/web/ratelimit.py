"""The public routes' rate limit: at most so many requests per client per rolling minute."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from api.web.errors import Problem


class RateLimiter:
    """At most `per_minute` requests per client per rolling minute (per process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def check(self, client: str) -> None:
        now = time.monotonic()
        with self.lock:
            hits = self.seen[client]
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                retry = max(1, int(60 - (now - hits[0])))
                raise Problem(429, "rate-limited", f"at most {self.per_minute} public requests a minute",
                              {"Retry-After": str(retry)})
            hits.append(now)
