"""When and how long to wait before trying a request again.

Retried: answers 429 and 503 (the server says when with ``Retry-After``, in seconds or as an HTTP date) and
transport failures where the service could not be reached or the connection broke (connection refused or reset,
connect timeout). The wait is exponential with jitter, ``uniform(0.5, 1) × min(max_backoff, backoff × 2^attempt)``,
or the ``Retry-After`` value when the server gives one (capped by ``max_retry_after``, plus up to 10 % jitter so
that many clients told the same time do not come back together).
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` extra attempts after the first; delays in seconds."""

    retries: int = 5
    backoff: float = 0.1
    max_backoff: float = 10.0
    max_retry_after: float = 120.0

    def backoff_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter for retry number ``attempt`` (0 = first retry)."""
        rng = rng or random
        return rng.uniform(0.5, 1.0) * min(self.max_backoff, self.backoff * 2.0**attempt)

    def delay(self, attempt: int, retry_after: str | None, rng: random.Random | None = None) -> float:
        """The wait before retry ``attempt``: the server's ``Retry-After`` if it sent one, else the backoff."""
        seconds = parse_retry_after(retry_after)
        if seconds is None:
            return self.backoff_delay(attempt, rng)
        seconds = min(seconds, self.max_retry_after)
        return seconds + (rng or random).uniform(0.0, 0.1) * seconds


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
