"""Send the daily summary (and run-failure alerts) to Slack, Discord, a JSON webhook and a CloudEvent sink.

Each channel is optional and configured in the sources config (`delivery:`), with its URL given as a secret (env var
or file): webhook URLs are credentials, so they never appear in a message, a log line or an exception. Deliveries are
retried with exponential backoff on timeouts, connection errors, HTTP 429 and 5xx. Delivery happens after the report
is on disk, and a channel that keeps failing never stops the others: every channel is tried, then one
`DeliveryError` names the failed channels.

We use `urllib.request` rather than `requests` on purpose: urllib3 logs request paths at DEBUG, and a Slack or
Discord webhook path *is* the secret.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from etl.config import DeliveryConfig, WebhookTarget
from etl.errors import WarehouseError
from etl.summary.render import burn, headline, percent, pipeline_label

log = logging.getLogger(__name__)

SUMMARY_EVENT_TYPE = "dev.tekton-warehouse.summary.daily"
ALERT_EVENT_TYPE = "dev.tekton-warehouse.alert.run_failure"
EVENT_SOURCE = "/tekton-warehouse"
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
RETRY_AFTER_MAX_S = 30.0
UIDS_IN_CHAT = 3
_NAMESPACE = uuid.UUID("5f0c8f3e-4d1a-4f59-9a53-2b7c0e6d9a10")


class DeliveryError(WarehouseError):
    """At least one configured channel could not be reached; the report itself is safe on disk."""


@dataclass(frozen=True)
class Message:
    """What to send, independent of the channel: a title, chat lines, and the machine-readable document."""

    event_type: str
    subject: str
    title: str
    lines: tuple[str, ...]
    document: Mapping[str, Any]


@dataclass(frozen=True)
class DeliveryResult:
    channel: str
    attempts: int
    status: int | None


# ================================================================================================================
# Messages
# ================================================================================================================


def _uids(uids: list[str]) -> str:
    shown = ", ".join(uids[:UIDS_IN_CHAT])
    return shown + (f" +{len(uids) - UIDS_IN_CHAT}" if len(uids) > UIDS_IN_CHAT else "")


def summary_message(summary: Mapping[str, Any]) -> Message:
    """The daily summary as chat lines; the full document goes to the JSON webhook and the CloudEvent."""
    runs, budget = summary["runs"], summary["error_budget"]
    lines = [
        f"Runs: {runs['day']['runs']} (7 days before: {runs['baseline']['runs']}); success "
        f"{percent(runs['day']['success_rate'])} vs {percent(runs['baseline']['success_rate'])}; "
        f"error-budget burn {burn(budget['burn'])} (SLO {percent(budget['slo_target'])})",
    ]
    lines += [
        f"Regressed: {pipeline_label(item)} in {item['regressed_run_uid']}"
        for item in summary["regressions"]["regressed"]
    ]
    still = summary["regressions"]["still_failing"]
    if still:
        lines.append(f"Still failing: {', '.join(pipeline_label(item) for item in still[:5])}")
    flaky = summary["newly_flaky"]["pipelines"] + summary["newly_flaky"]["tasks"]
    lines += [f"Newly flaky: {pipeline_label(item)} ({_uids(item['failed_uids'])})" for item in flaky[:5]]
    lines += [
        f"Cause {item['cause']}: {item['failures']} ({_uids(item['run_uids'])})"
        for item in summary["failure_causes"][:3]
    ]
    chain = summary["supply_chain"]
    lines.append(
        f"Artifacts: {chain['artifacts_produced']} produced, {percent(chain['share_signed'])} signed; "
        f"{len(chain['commits_failed_downstream'])} commit(s) failed downstream"
    )
    return Message(
        event_type=SUMMARY_EVENT_TYPE,
        subject=summary["day"],
        title=headline(dict(summary)),
        lines=tuple(lines),
        document=summary,
    )


def alert_message(title: str, lines: list[str], document: Mapping[str, Any]) -> Message:
    """A run-failure alert, sent through the same channels as the summary."""
    return Message(
        event_type=ALERT_EVENT_TYPE,
        subject=str(document.get("run_id", "")),
        title=title,
        lines=tuple(lines),
        document=document,
    )


# ================================================================================================================
# Payloads per channel
# ================================================================================================================


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(message: Message) -> dict[str, Any]:
    """Incoming-webhook body: `text` is the notification fallback, `blocks` the rendered message."""
    return {
        "text": _clip(message.title, 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _clip(message.title, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(message.lines), 3000)}},
        ],
    }


def discord_payload(message: Message) -> dict[str, Any]:
    colour = 0xCF222E if message.event_type == ALERT_EVENT_TYPE else 0x0969DA
    return {
        "content": _clip(message.title, 2000),
        "embeds": [{"title": _clip(message.subject or message.title, 256), "description": _clip("\n".join(message.lines), 4096), "color": colour}],
    }  # fmt: skip


def cloudevent_payload(message: Message, now: datetime | None = None) -> dict[str, Any]:
    """Structured-mode CloudEvent 1.0. The id is derived from type and subject, so a redelivery is recognisable as
    the same event by the receiver."""
    return {
        "specversion": "1.0",
        "type": message.event_type,
        "source": EVENT_SOURCE,
        "id": str(uuid.uuid5(_NAMESPACE, f"{message.event_type}/{message.subject}")),
        "time": (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "subject": message.subject,
        "datacontenttype": "application/json",
        "data": dict(message.document),
    }


def _request_for(channel: str, message: Message) -> tuple[bytes, str]:
    if channel == "slack":
        body, content_type = slack_payload(message), "application/json"
    elif channel == "discord":
        body, content_type = discord_payload(message), "application/json"
    elif channel == "webhook":
        body, content_type = dict(message.document), "application/json"
    else:
        body, content_type = cloudevent_payload(message), "application/cloudevents+json; charset=utf-8"
    return json.dumps(body, sort_keys=True).encode(), content_type


# ================================================================================================================
# Sending with retries
# ================================================================================================================


def _retry_after(headers: Mapping[str, str] | None, attempt: int) -> float:
    backoff = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt)
    value = (headers or {}).get("Retry-After")
    try:
        return min(RETRY_AFTER_MAX_S, max(0.0, float(value))) if value is not None else backoff
    except ValueError:
        return backoff


def _post_once(
    url: str, body: bytes, content_type: str, timeout_s: float
) -> tuple[int, Mapping[str, str] | None]:
    """One POST; returns the status (or raises OSError for network trouble). Never lets the URL escape."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "User-Agent": "tekton-warehouse"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
            return response.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {})


def _network_reason(exc: OSError, timeout_s: float) -> str:
    cause = getattr(exc, "reason", exc)
    if isinstance(cause, TimeoutError):
        return f"timed out after {timeout_s:g}s"
    return f"connection failed ({type(cause).__name__})"


def _send(
    channel: str, target: WebhookTarget, message: Message, sleep: Callable[[float], None]
) -> tuple[DeliveryResult, str | None]:
    """Deliver to one channel; returns the result and, on failure, a reason safe to print."""
    url = target.url.read() or ""
    if not url.startswith(("http://", "https://")):
        return DeliveryResult(channel, 0, None), "the configured URL is not an http(s) URL"
    body, content_type = _request_for(channel, message)
    attempts, reason, status = 0, "", None
    for attempt in range(target.retries + 1):
        attempts += 1
        headers: Mapping[str, str] | None = None
        try:
            status, headers = _post_once(url, body, content_type, target.timeout_s)
        except OSError as exc:  # URLError, timeouts and refused connections are all OSErrors
            status, reason = None, _network_reason(exc, target.timeout_s)
        if status is not None and 200 <= status < 300:
            return DeliveryResult(channel, attempts, status), None
        if status is not None:
            reason = f"HTTP {status}"
            if status != 429 and status < 500:
                break  # a 4xx other than 429 will not get better by retrying
        if attempt < target.retries:
            delay = _retry_after(headers, attempt)
            log.info("%s delivery: %s, retrying in %.1fs", channel, reason, delay)
            sleep(delay)
    return DeliveryResult(channel, attempts, status), f"{reason} after {attempts} attempt(s)"


def configured_channels(delivery: DeliveryConfig) -> dict[str, WebhookTarget]:
    targets = {"slack": delivery.slack, "discord": delivery.discord, "webhook": delivery.webhook}
    targets["cloudevent"] = delivery.cloudevent
    return {channel: target for channel, target in targets.items() if target is not None}


def deliver(
    delivery: DeliveryConfig, message: Message, sleep: Callable[[float], None] = time.sleep
) -> list[DeliveryResult]:
    """Send `message` to every configured channel. Raises `DeliveryError` naming the channels that failed, after
    trying them all; returns the results when every channel accepted it."""
    results, failures = [], []
    for channel, target in configured_channels(delivery).items():
        try:
            result, failure = _send(channel, target, message, sleep)
        except (
            WarehouseError
        ) as exc:  # e.g. the secret's env var or file is missing; its message names no secret
            result, failure = DeliveryResult(channel, 0, None), str(exc)
        results.append(result)
        if failure:
            failures.append(f"{channel}: {failure}")
        else:
            log.info("%s delivery accepted (HTTP %s, %d attempt(s))", channel, result.status, result.attempts)
    if failures:
        raise DeliveryError(
            "delivery failed for " + "; ".join(failures) + " (the report is on disk; retry with --deliver)"
        )
    return results
