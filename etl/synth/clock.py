"""Timestamps as Kubernetes and Tekton Results write them, from integer (or float) epoch seconds."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

_DAY = 86_400
_day_prefix_cache: dict[int, str] = {}


def rfc3339(ts: int) -> str:
    """Second-precision UTC time as in `metadata.creationTimestamp` (fast path: cached date prefix)."""
    day, rest = divmod(ts, _DAY)
    prefix = _day_prefix_cache.get(day)
    if prefix is None:
        prefix = time.strftime("%Y-%m-%dT", time.gmtime(day * _DAY))
        if len(_day_prefix_cache) > 4096:
            _day_prefix_cache.clear()
        _day_prefix_cache[day] = prefix
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def rfc3339_micro(ts: float) -> str:
    """Microsecond-precision UTC time as in Results `create_time` / `update_time`."""
    whole = int(ts)
    micros = round((ts - whole) * 1_000_000)
    if micros >= 1_000_000:
        whole, micros = whole + 1, 0
    return f"{rfc3339(whole)[:-1]}.{micros:06d}Z"


def day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def go_duration(seconds: int) -> str:
    """Go's `time.Duration.String()` for whole seconds, as Tekton writes timeouts ("1h0m0s", "5m30s", "45s")."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
