"""Timestamps as Kubernetes and Tekton Results write them, from integer (or float) epoch seconds."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, date, datetime

_DAY = 86_400
_day_prefix_cache: dict[int, str] = {}


# Every "HH:MM:SSZ" of a day, built on first use: building it costs ~0.2 s, which every `tekton-warehouse` command
# would otherwise pay at start-up (the CLI imports the generator to register `generate`).
_HMS: list[str] = []


def rfc3339(ts: int) -> str:
    """Second-precision UTC time as in `metadata.creationTimestamp` (fast path: cached date, table of times)."""
    day, rest = divmod(ts, _DAY)
    prefix = _day_prefix_cache.get(day)
    if prefix is None:
        prefix = time.strftime("%Y-%m-%dT", time.gmtime(day * _DAY))
        if len(_day_prefix_cache) > 4096:
            _day_prefix_cache.clear()
        _day_prefix_cache[day] = prefix
    if not _HMS:
        _HMS.extend(f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60))
    return prefix + _HMS[rest]


def epoch(text: str) -> int:
    """Inverse of `rfc3339` for second-precision 'YYYY-MM-DDTHH:MM:SSZ' text."""
    return calendar.timegm(
        (
            int(text[0:4]),
            int(text[5:7]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:19]),
        )
    )


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
