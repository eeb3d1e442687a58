"""The lineage graph as Graphviz DOT text: commit → runs → task runs → artifacts → downstream runs.

Kept apart from the page so the drawing rules (shapes, colours, escaping of names that come from the data) can be
unit-tested without a browser.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

KIND_STYLE = {
    "commit": 'shape=box style="rounded,filled" fillcolor="#e3f2fd"',
    "event": 'shape=box style="rounded,dashed"',
    "pipeline_run": 'shape=box style="filled" fillcolor="#ffffff"',
    "task_run": 'shape=box style="filled" fillcolor="#fafafa" fontsize=10',
    "artifact": 'shape=cylinder style="filled" fillcolor="#f3e5f5"',
}
STATUS_COLOUR = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "timed_out": "#c62828",
    "cancelled": "#757575",
    "running": "#1565c0",
    "pending": "#1565c0",
}


def quote(text: str) -> str:
    """A DOT string literal: names come from the data and may hold quotes or backslashes."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(kind: str, node_id: str, runs: Mapping[str, Mapping[str, str]], signed: Mapping[str, bool]) -> str:
    if kind == "commit":
        repo, _, sha = node_id.rpartition("@")
        return f"{repo.rsplit('/', 1)[-1]}\n{sha[:12]}"
    if kind in ("pipeline_run", "task_run") and node_id in runs:
        run = runs[node_id]
        return f"{run['pipeline']}\n{run['name']}\n{run['status']}"
    if kind == "artifact":
        mark = "signed" if signed.get(node_id) else "NOT signed"
        return f"{node_id.split(':', 1)[-1][:12]}\n{mark}"
    return node_id[:24]


def _node_attrs(
    kind: str, node_id: str, runs: Mapping[str, Mapping[str, str]], signed: Mapping[str, bool]
) -> str:
    attrs = KIND_STYLE.get(kind, "shape=ellipse")
    if kind in ("pipeline_run", "task_run") and node_id in runs:
        attrs += f' color="{STATUS_COLOUR.get(runs[node_id]["status"], "#000000")}" penwidth=2'
    if kind == "artifact":
        attrs += ' color="#2e7d32"' if signed.get(node_id) else ' color="#c62828" penwidth=2'
    return attrs


def lineage_dot(
    edges: pd.DataFrame,
    runs: pd.DataFrame,
    artifacts: pd.DataFrame,
    highlight: set[str] | None = None,
) -> str:
    """DOT for the edges (fct_lineage_edges rows); runs and artifacts give labels, status and signing colour."""
    run_info = {r.id: {"name": r.name, "pipeline": r.pipeline, "status": r.status} for r in runs.itertuples()}
    signed = {r.artifact_digest: bool(r.is_signed) for r in artifacts.itertuples()}
    nodes: dict[str, str] = {}
    for e in edges.itertuples():
        nodes.setdefault(e.source_id, e.source_kind)
        nodes.setdefault(e.target_id, e.target_kind)
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica" fontsize=11];']
    for node_id, kind in nodes.items():
        attrs = _node_attrs(kind, node_id, run_info, signed)
        if highlight and node_id in highlight:
            attrs += " peripheries=2"
        label = _label(kind, node_id, run_info, signed)
        lines.append(f"  {quote(node_id)} [label={quote(label)} tooltip={quote(node_id)} {attrs}];")
    for e in edges.itertuples():
        style = ' style="dashed"' if e.relation in ("consumed_by", "rerun_as") else ""
        lines.append(f"  {quote(e.source_id)} -> {quote(e.target_id)} [label={quote(e.relation)}{style}];")
    lines.append("}")
    return "\n".join(lines)
