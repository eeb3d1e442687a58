"""Render a summary document as Markdown (chat, git) and as one self-contained HTML page (mail, browsers).

Rendering only formats what `queries` computed. The HTML has no external assets: inline CSS and small inline SVG
charts, so it displays the same when mailed, attached or opened offline. Every text from the data is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

UIDS_SHOWN = 8

Summary = dict[str, Any]


# ================================================================================================================
# Formatting helpers
# ================================================================================================================


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def points(value: float | None) -> str:
    return "" if value is None else f"{value * 100:+.1f} pts"


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 120:
        return f"{value:.0f}s"
    if value < 7200:
        return f"{value / 60:.1f}min"
    return f"{value / 3600:.1f}h"


def burn(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def pipeline_label(item: dict[str, Any]) -> str:
    label = f"{item['cluster']}/{item['namespace']}/{item['pipeline_name']}"
    return f"{label} › {item['pipeline_task']}" if item.get("pipeline_task") else label


def _shown_uids(uids: Sequence[str]) -> tuple[list[str], int]:
    return list(uids[:UIDS_SHOWN]), max(0, len(uids) - UIDS_SHOWN)


def headline(summary: Summary) -> str:
    """One line for chat notifications and subjects."""
    day = summary["runs"]["day"]
    regressed = len(summary["regressions"]["regressed"])
    flaky = len(summary["newly_flaky"]["pipelines"]) + len(summary["newly_flaky"]["tasks"])
    return (
        f"Tekton {summary['day']}: {day['runs']} runs, success {percent(day['success_rate'])} "
        f"({points(summary['runs']['success_rate_change']) or 'no baseline'} vs 7 days), "
        f"budget burn {burn(summary['error_budget']['burn'])}, {regressed} regressed, {flaky} newly flaky"
    )


# ================================================================================================================
# Markdown
# ================================================================================================================


def _md_uids(uids: Sequence[str]) -> str:
    shown, more = _shown_uids(uids)
    text = ", ".join(f"`{uid}`" for uid in shown) or "none"
    return f"{text} (+{more} more in the JSON)" if more else text


def _md_runs(summary: Summary) -> list[str]:
    runs, budget = summary["runs"], summary["error_budget"]
    day, base = runs["day"], runs["baseline"]
    return [
        "## Runs",
        "",
        f"| | {summary['day']} | previous {base['days']} days |",
        "|---|---:|---:|",
        f"| runs | {day['runs']} | {base['runs']} |",
        f"| success rate | {percent(day['success_rate'])} | {percent(base['success_rate'])} |",
        f"| succeeded / failed / timed out / cancelled | {day['succeeded']} / {day['failed']} / "
        f"{day['timed_out']} / {day['cancelled']} | {base['succeeded']} / {base['failed']} / "
        f"{base['timed_out']} / {base['cancelled']} |",
        f"| error-budget burn (SLO {percent(budget['slo_target'])}) | {burn(budget['burn'])} | "
        f"{burn(budget['baseline_burn'])} |",
        "",
        f"Change in success rate: {points(runs['success_rate_change']) or 'n/a'}. "
        f"Failing runs: {_md_uids(runs['failing_run_uids'])}",
    ]


def _md_regressions(summary: Summary) -> list[str]:
    lines = ["## Regressed today", ""]
    regressed = summary["regressions"]["regressed"]
    lines += [
        f"- **{pipeline_label(item)}** regressed in `{item['regressed_run_uid']}` (last pass "
        f"`{item['last_passing_run_uid']}`), still {item['latest_status']}: {_md_uids(item['failing_run_uids'])}"
        for item in regressed
    ] or ["None."]
    lines += ["", "## Still failing", ""]
    lines += [
        f"- **{pipeline_label(item)}** failing since {item['regressed_on'] or 'its first run'}"
        + (f" (`{item['regressed_run_uid']}`)" if item["regressed_run_uid"] else "")
        + f": {_md_uids(item['failing_run_uids'])}"
        for item in summary["regressions"]["still_failing"]
    ] or ["None."]
    return lines


def _md_flaky(summary: Summary) -> list[str]:
    flaky = summary["newly_flaky"]
    lines = [f"## Newly flaky (first evidence today, none in the {flaky['window_days']} days before)", ""]
    items = flaky["pipelines"] + flaky["tasks"]
    lines += [
        f"- **{pipeline_label(item)}** ({', '.join(item['kinds'])}): failed {_md_uids(item['failed_uids'])}; "
        f"passed {_md_uids(item['passing_uids'])}"
        for item in items
    ] or ["None."]
    return lines


def _md_causes(summary: Summary) -> list[str]:
    lines = ["## Top failure causes", ""]
    if not summary["failure_causes"]:
        return [*lines, "No failures."]
    lines += ["| cause | failures | runs |", "|---|---:|---|"]
    lines += [
        f"| {item['cause']} | {item['failures']} | {_md_uids(item['run_uids'])} |"
        for item in summary["failure_causes"]
    ]
    return lines


def _md_durations(summary: Summary) -> list[str]:
    lines = ["## Largest p95 duration increases (vs the 7 days before)", ""]
    if not summary["duration_increases"]:
        return [*lines, "None."]
    lines += ["| pipeline | p95 today | p95 baseline | increase | slower runs |", "|---|---:|---:|---:|---|"]
    lines += [
        f"| {pipeline_label(item)} | {seconds(item['p95_day_s'])} | {seconds(item['p95_baseline_s'])} | "
        f"+{seconds(item['increase_s'])} | {_md_uids(item['run_uids'])} |"
        for item in summary["duration_increases"]
    ]
    return lines


def _md_queue(summary: Summary) -> list[str]:
    queue = summary["queue"]
    lines = [
        "## Queue time",
        "",
        f"p95 queue time: {seconds(queue['p95_s'])} today, {seconds(queue['baseline_p95_s'])} over the 7 days before.",
    ]
    if queue["worst_pipelines"]:
        lines += ["", "| pipeline | queue p95 | longest-queued runs |", "|---|---:|---|"]
        lines += [
            f"| {pipeline_label(item)} | {seconds(item['queue_p95_s'])} | {_md_uids(item['run_uids'])} |"
            for item in queue["worst_pipelines"]
        ]
    return lines


def _md_supply_chain(summary: Summary) -> list[str]:
    chain = summary["supply_chain"]
    lines = [
        "## Supply chain",
        "",
        f"Artifacts produced: {chain['artifacts_produced']}, signed: {chain['artifacts_signed']} "
        f"({percent(chain['share_signed'])}). Producers: {_md_uids(chain['producer_run_uids'])}",
        "",
        "Commits whose artifacts failed downstream:",
        "",
    ]
    lines += [
        f"- `{item['repo_url']}@{item['commit_sha']}`: {len(item['artifact_digests'])} artifact(s) from "
        f"{_md_uids(item['producer_run_uids'])}; failing downstream {_md_uids(item['failing_downstream_run_uids'])}"
        for item in chain["commits_failed_downstream"]
    ] or ["None."]
    return lines


def render_markdown(summary: Summary) -> str:
    sections = [_md_runs, _md_regressions, _md_flaky, _md_causes, _md_durations, _md_queue, _md_supply_chain]
    lines = [
        f"# Daily reliability summary — {summary['day']} (UTC)",
        "",
        f"{headline(summary)}. Data through {summary['data_through']}"
        + ("." if summary["day_complete"] else " (the day is not complete yet)."),
    ]
    for section in sections:
        lines += ["", *section(summary)]
    return "\n".join(lines) + "\n"


# ================================================================================================================
# HTML
# ================================================================================================================

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1040px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}.kpi{border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;min-width:150px}
.kpi b{display:block;font-size:22px}.kpi small{display:block;color:#59636e}.bad{color:#cf222e}.good{color:#1a7f37}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left;vertical-align:top}
th{color:#59636e;font-weight:600}td.n{text-align:right;white-space:nowrap}code{font-size:12px;background:#f6f8fa;padding:1px 4px;border-radius:4px}
.none{color:#59636e}.muted{color:#59636e;font-size:12px}
"""


def _h(text: Any) -> str:
    return escape(str(text), quote=True)


def _html_uids(uids: Sequence[str]) -> str:
    shown, more = _shown_uids(uids)
    text = (
        " ".join(f'<code title="run uid">{_h(uid)}</code>' for uid in shown)
        or '<span class="none">none</span>'
    )
    return text + (f' <span class="muted">+{more} more in the JSON</span>' if more else "")


def bar_chart_svg(labels: Sequence[str], values: Sequence[float | None], title: str, width: int = 360) -> str:
    """A small horizontal bar chart; missing values draw no bar."""
    row_height, label_width = 18, 120
    height = row_height * len(values) + 4
    peak = max((value for value in values if value is not None), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{_h(title)}"><title>{_h(title)}</title>'
    ]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = index * row_height + 2
        bar = 0 if value is None else (width - label_width - 60) * value / peak
        parts.append(f'<text x="0" y="{y + 12}" font-size="11">{_h(label[:20])}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{bar:.1f}" height="{row_height - 5}" fill="#cf222e"/>'
        )
        parts.append(
            f'<text x="{label_width + bar + 4:.1f}" y="{y + 12}" font-size="11">'
            f"{'' if value is None else _h(f'{value:g}')}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def success_trend_svg(trend: Sequence[dict[str, Any]], width: int = 240, height: int = 48) -> str:
    """Daily success-rate bars for D and the 7 days before (D rightmost, highlighted)."""
    slot = width / max(len(trend), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 14}" role="img" '
        'aria-label="success rate per day"><title>success rate per day</title>'
    ]
    for index, point in enumerate(trend):
        rate = point["success_rate"]
        bar = 0 if rate is None else max(1.0, height * rate)
        colour = "#0969da" if index == len(trend) - 1 else "#8c959f"
        parts.append(
            f'<rect x="{index * slot + 2:.1f}" y="{height - bar:.1f}" width="{slot - 4:.1f}" height="{bar:.1f}" '
            f'fill="{colour}"><title>{_h(point["day"])}: {_h(percent(rate))} of {point["runs"]} runs</title></rect>'
        )
        parts.append(
            f'<text x="{index * slot + slot / 2:.1f}" y="{height + 12}" font-size="9" text-anchor="middle">'
            f"{_h(point['day'][8:])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _kpi(title: str, value: str, note: str = "", css: str = "") -> str:
    return f'<div class="kpi"><small>{_h(title)}</small><b class="{css}">{_h(value)}</b><small>{_h(note)}</small></div>'


def _html_kpis(summary: Summary) -> str:
    runs, budget, queue = summary["runs"], summary["error_budget"], summary["queue"]
    change = runs["success_rate_change"]
    trend_css = "" if change is None else ("bad" if change < 0 else "good")
    burn_css = "bad" if (budget["burn"] or 0) > 1 else "good"
    return (
        '<div class="kpis">'
        + _kpi("runs", str(runs["day"]["runs"]), f"{runs['baseline']['runs']} in the 7 days before")
        + _kpi("success rate", percent(runs["day"]["success_rate"]), points(change) or "no baseline", trend_css)
        + _kpi("error-budget burn", burn(budget["burn"]), f"SLO {percent(budget['slo_target'])}", burn_css)
        + _kpi("queue p95", seconds(queue["p95_s"]), f"baseline {seconds(queue['baseline_p95_s'])}")
        + _kpi("artifacts signed", percent(summary["supply_chain"]["share_signed"]),
               f"{summary['supply_chain']['artifacts_produced']} produced")
        + f'<div class="kpi"><small>success rate, last 8 days</small>{success_trend_svg(runs["trend"])}</div>'
        + "</div>"
    )  # fmt: skip


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int] | None = None) -> str:
    if not rows:
        return '<p class="none">None.</p>'
    numeric = numeric or set()
    head = "".join(f"<th>{_h(header)}</th>" for header in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _html_sections(summary: Summary) -> list[str]:
    regressions, flaky, chain, queue = (
        summary["regressions"],
        summary["newly_flaky"],
        summary["supply_chain"],
        summary["queue"],
    )
    causes = summary["failure_causes"]
    return [
        "<h2>Failing runs today</h2>",
        f"<p>{_html_uids(summary['runs']['failing_run_uids'])}</p>",
        "<h2>Regressed today</h2>",
        _table(
            ["pipeline", "regressed in", "last pass", "failing runs today"],
            [
                [_h(pipeline_label(i)), _html_uids([i["regressed_run_uid"]]),
                 _html_uids([i["last_passing_run_uid"]] if i["last_passing_run_uid"] else []),
                 _html_uids(i["failing_run_uids"])]
                for i in regressions["regressed"]
            ],
        ),
        "<h2>Still failing</h2>",
        _table(
            ["pipeline", "failing since", "failing runs today"],
            [
                [_h(pipeline_label(i)), _h(i["regressed_on"] or "its first run"), _html_uids(i["failing_run_uids"])]
                for i in regressions["still_failing"]
            ],
        ),
        f"<h2>Newly flaky (first evidence today, none in the {flaky['window_days']} days before)</h2>",
        _table(
            ["pipeline / task", "evidence", "failed", "passed"],
            [
                [_h(pipeline_label(i)), _h(", ".join(i["kinds"])), _html_uids(i["failed_uids"]),
                 _html_uids(i["passing_uids"])]
                for i in flaky["pipelines"] + flaky["tasks"]
            ],
        ),
        "<h2>Top failure causes</h2>",
        bar_chart_svg([c["cause"] for c in causes], [c["failures"] for c in causes], "failures by cause")
        if causes else "",
        _table(
            ["cause", "failures", "runs"],
            [[_h(c["cause"]), str(c["failures"]), _html_uids(c["run_uids"])] for c in causes],
            numeric={1},
        ),
        "<h2>Largest p95 duration increases (vs the 7 days before)</h2>",
        _table(
            ["pipeline", "p95 today", "p95 baseline", "increase", "slower runs"],
            [
                [_h(pipeline_label(i)), seconds(i["p95_day_s"]), seconds(i["p95_baseline_s"]),
                 "+" + seconds(i["increase_s"]), _html_uids(i["run_uids"])]
                for i in summary["duration_increases"]
            ],
            numeric={1, 2, 3},
        ),
        "<h2>Queue time</h2>",
        f"<p>p95 {_h(seconds(queue['p95_s']))} today, {_h(seconds(queue['baseline_p95_s']))} over the 7 days before.</p>",
        _table(
            ["pipeline", "queue p95", "longest-queued runs"],
            [[_h(pipeline_label(i)), seconds(i["queue_p95_s"]), _html_uids(i["run_uids"])]
             for i in queue["worst_pipelines"]],
            numeric={1},
        ),
        "<h2>Supply chain</h2>",
        f"<p>{chain['artifacts_produced']} artifacts produced, {chain['artifacts_signed']} signed "
        f"({_h(percent(chain['share_signed']))}). Producers: {_html_uids(chain['producer_run_uids'])}</p>",
        "<p>Commits whose artifacts failed downstream:</p>",
        _table(
            ["commit", "artifacts", "producers", "failing downstream runs"],
            [
                [f"<code>{_h(i['repo_url'])}@{_h(i['commit_sha'])}</code>", str(len(i["artifact_digests"])),
                 _html_uids(i["producer_run_uids"]), _html_uids(i["failing_downstream_run_uids"])]
                for i in chain["commits_failed_downstream"]
            ],
            numeric={1},
        ),
    ]  # fmt: skip


def render_html(summary: Summary) -> str:
    regressions = summary["regressions"]
    alert = len(regressions["regressed"]) + len(regressions["still_failing"])
    status = (
        f'<p class="bad">{alert} pipeline(s) failing now.</p>'
        if alert
        else '<p class="good">No pipeline failing now.</p>'
    )
    complete = "" if summary["day_complete"] else " — the day is not complete yet"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Tekton daily reliability summary {_h(summary['day'])}</title>"
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head><body>'
        f"<h1>Daily reliability summary — {_h(summary['day'])} (UTC)</h1>"
        f'<p class="muted">Data through {_h(summary["data_through"])}{complete}. Every item lists the run uids '
        "behind it.</p>"
        + status
        + _html_kpis(summary)
        + "".join(_html_sections(summary))
        + "</body></html>\n"
    )
