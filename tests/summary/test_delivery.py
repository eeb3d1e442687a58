"""Delivery against real HTTP receivers on loopback sockets: payload shapes, retries, and failures that lose
nothing and leak no webhook URL."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from etl.cli import main
from etl.config import DeliveryConfig, SecretRef, WarehousePaths, WebhookTarget
from etl.summary import build_summary
from etl.summary.delivery import (
    SUMMARY_EVENT_TYPE,
    DeliveryError,
    Message,
    cloudevent_payload,
    deliver,
    summary_message,
)
from tests.summary.marts_builder import DAY, MartsBuilder
from tests.summary.receiver import http_receiver
from tests.summary.test_report import _history


@pytest.fixture
def summary_files(warehouse_home: WarehousePaths, marts: MartsBuilder):
    _history(marts)
    marts.write(warehouse_home.serving_db)
    return build_summary(warehouse_home, DAY)


def _target(env_name: str, url: str, monkeypatch: pytest.MonkeyPatch, retries: int = 3) -> WebhookTarget:
    monkeypatch.setenv(env_name, url)
    return WebhookTarget(url=SecretRef(env=env_name), timeout_s=5, retries=retries)


def test_every_channel_gets_its_own_payload_shape(summary_files, monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        http_receiver() as slack,
        http_receiver() as discord,
        http_receiver() as hook,
        http_receiver() as events,
    ):
        config = DeliveryConfig(
            slack=_target("T_SLACK", slack.url, monkeypatch),
            discord=_target("T_DISCORD", discord.url, monkeypatch),
            webhook=_target("T_HOOK", hook.url, monkeypatch),
            cloudevent=_target("T_EVENTS", events.url, monkeypatch),
        )
        results = deliver(config, summary_message(summary_files.summary), sleep=lambda _: None)
    assert [(r.channel, r.status, r.attempts) for r in results] == [
        ("slack", 200, 1),
        ("discord", 200, 1),
        ("webhook", 200, 1),
        ("cloudevent", 200, 1),
    ]
    slack_body = slack.requests[0].json()
    assert slack_body["text"].startswith(f"Tekton {DAY}: 10 runs")
    assert [block["type"] for block in slack_body["blocks"]] == ["header", "section"]
    assert "Regressed: c1/team/build in b-d2" in slack_body["blocks"][1]["text"]["text"]
    discord_body = discord.requests[0].json()
    assert discord_body["content"] == slack_body["text"]
    assert "Newly flaky: c1/team/lint (l-d1)" in discord_body["embeds"][0]["description"]
    assert hook.requests[0].json() == json.loads(summary_files.json_path.read_text())
    event = events.requests[0]
    assert event.headers["Content-Type"].startswith("application/cloudevents+json")
    body = event.json()
    assert {k: body[k] for k in ("specversion", "type", "datacontenttype", "subject")} == {
        "specversion": "1.0",
        "type": SUMMARY_EVENT_TYPE,
        "datacontenttype": "application/json",
        "subject": DAY.isoformat(),
    }
    assert body["source"] and body["id"] and body["time"].endswith("Z")
    assert body["data"] == summary_files.summary


def test_the_cloudevent_id_is_stable_for_the_same_day() -> None:
    first = cloudevent_payload(_minimal_message("2026-03-10"))
    again = cloudevent_payload(_minimal_message("2026-03-10"))
    other = cloudevent_payload(_minimal_message("2026-03-11"))
    assert first["id"] == again["id"] != other["id"]


def _minimal_message(day: str) -> Message:
    return Message(SUMMARY_EVENT_TYPE, day, "t", ("line",), {"day": day})


def test_a_receiver_that_fails_first_then_succeeds_gets_the_summary(
    summary_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    with http_receiver(statuses=[503, 429]) as hook:
        config = DeliveryConfig(webhook=_target("T_HOOK", hook.url, monkeypatch))
        results = deliver(config, summary_message(summary_files.summary), sleep=slept.append)
    assert (results[0].status, results[0].attempts) == (200, 3)
    assert len(hook.requests) == 3 and hook.requests[0].body == hook.requests[2].body
    assert slept == [0.5, 0.0]  # exponential backoff after the 503, the server's Retry-After after the 429


def test_a_client_error_is_not_retried(summary_files, monkeypatch: pytest.MonkeyPatch) -> None:
    with http_receiver(default_status=404) as hook:
        config = DeliveryConfig(webhook=_target("T_HOOK", hook.url, monkeypatch))
        with pytest.raises(DeliveryError, match=r"webhook: HTTP 404 after 1 attempt\(s\)"):
            deliver(config, summary_message(summary_files.summary), sleep=lambda _: None)
    assert len(hook.requests) == 1


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_channel_does_not_stop_the_others(
    summary_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver() as hook:
        dead_url = f"http://127.0.0.1:{_closed_port()}/hooks/x"
        config = DeliveryConfig(
            slack=_target("T_SLACK", dead_url, monkeypatch, retries=1),
            webhook=_target("T_HOOK", hook.url, monkeypatch),
        )
        with pytest.raises(DeliveryError) as failure:
            deliver(config, summary_message(summary_files.summary), sleep=lambda _: None)
    assert "slack: connection failed" in str(failure.value) and "after 2 attempt(s)" in str(failure.value)
    assert len(hook.requests) == 1


def test_cli_always_failing_receiver_keeps_the_report_and_prints_one_line_without_the_url(
    warehouse_home: WarehousePaths,
    marts: MartsBuilder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _history(marts)
    marts.write(warehouse_home.serving_db)
    with http_receiver(default_status=500) as slack:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url)
        Path(warehouse_home.default_config_file).write_text(
            "delivery:\n  slack:\n    url: {env: SLACK_WEBHOOK_URL}\n    retries: 2\n"
        )
        monkeypatch.setattr("etl.summary.delivery.BACKOFF_BASE_S", 0.01)
        code = main(["summary", "--home", str(warehouse_home.home), "--date", DAY.isoformat(), "--deliver"])
    captured = capsys.readouterr()
    assert code == 2
    assert len(slack.requests) == 3
    error_lines = captured.err.strip().splitlines()
    assert error_lines == [
        "tekton-warehouse summary: error: delivery failed for slack: HTTP 500 after 3 attempt(s) "
        "(the report is on disk; retry with --deliver)"
    ]
    assert "SECRET-TOKEN-PATH" not in captured.err + captured.out
    for suffix in ("json", "md", "html"):
        assert (warehouse_home.daily_reports_dir / f"{DAY}.{suffix}").exists()


def test_cli_deliver_without_channels_is_a_config_error(
    warehouse_home: WarehousePaths, marts: MartsBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(marts)
    marts.write(warehouse_home.serving_db)
    assert main(["summary", "--home", str(warehouse_home.home), "--deliver"]) == 2
    assert "no delivery: channel" in capsys.readouterr().err


def test_cli_writes_the_newest_complete_day_by_default(
    warehouse_home: WarehousePaths, marts: MartsBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(marts)
    marts.write(warehouse_home.serving_db)
    assert main(["summary", "--home", str(warehouse_home.home)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(f"reports/daily/{DAY}.json")


def test_a_missing_secret_env_var_is_reported_by_name(summary_files, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_MISSING", raising=False)
    config = DeliveryConfig(discord=WebhookTarget(url=SecretRef(env="T_MISSING")))
    with pytest.raises(DeliveryError, match="discord: env var T_MISSING is not set"):
        deliver(config, summary_message(summary_files.summary), sleep=lambda _: None)
