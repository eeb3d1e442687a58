"""Flakiness: flaky pipelines and tasks ranked by flaky failures and wasted time, with the evidence behind them."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards import data, ui

TOP_N = 15

snapshot, filters = ui.require_data()
st.caption(
    "Flakiness window: the last `flaky_window_days` (default 30) before the newest completion in the "
    "warehouse; the date filter does not apply here."
)

pipelines = data.flaky_pipelines(snapshot, filters)
tasks = data.flaky_tasks(snapshot, filters)

with st.container(horizontal=True):
    st.metric("Flaky pipelines", f"{len(pipelines):,}", border=True)
    st.metric("Flaky failures", f"{int(pipelines['flaky_failures'].sum()):,}", border=True)
    st.metric(
        "Time wasted",
        ui.fmt_seconds(float(pipelines["wasted_s"].sum()) if len(pipelines) else 0.0),
        border=True,
    )
    st.metric("Flaky tasks", f"{len(tasks):,}", border=True)

if pipelines.empty and tasks.empty:
    ui.show_no_rows("flaky pipelines or tasks")
    st.stop()

# ================================================================================================================
# Pipelines
# ================================================================================================================

st.subheader("Flaky pipelines")
if not pipelines.empty:
    top = pipelines.head(TOP_N).assign(
        pipeline=lambda f: f["cluster"] + "/" + f["namespace"] + "/" + f["pipeline_name"],
        wasted_min=lambda f: f["wasted_s"] / 60,
    )
    figure = px.bar(
        top,
        x="flaky_failures",
        y="pipeline",
        color="flip_rate",
        orientation="h",
        hover_data=["runs", "failures", "flaky_failure_rate", "wasted_min"],
        title=f"Top {min(TOP_N, len(top))} by flaky failures",
        color_continuous_scale="Reds",
    )
    figure.update_yaxes(autorange="reversed")
    st.plotly_chart(figure, width="stretch")
ui.show_table(
    pipelines,
    "flaky_pipelines",
    column_config={
        "flaky_failure_rate": st.column_config.NumberColumn(format="percent"),
        "flip_rate": st.column_config.NumberColumn(format="%.2f"),
        "wasted_s": st.column_config.NumberColumn("wasted (s)", format="%.0f"),
    },
)

st.subheader("Flaky tasks")
ui.show_table(
    tasks,
    "flaky_tasks",
    column_config={
        "flaky_failure_rate": st.column_config.NumberColumn(format="percent"),
        "flip_rate": st.column_config.NumberColumn(format="%.2f"),
        "wasted_s": st.column_config.NumberColumn("wasted (s)", format="%.0f"),
    },
)

# ================================================================================================================
# Evidence of one pipeline
# ================================================================================================================

st.subheader("Evidence")
keys = (
    pipelines[["cluster", "namespace", "pipeline_name"]].drop_duplicates()
    if not pipelines.empty
    else tasks[["cluster", "namespace", "pipeline_name"]].drop_duplicates()
)
labels = [f"{r.cluster}/{r.namespace}/{r.pipeline_name}" for r in keys.itertuples()]
if st.session_state.get("flakiness_pipeline") not in labels:
    st.session_state.pop("flakiness_pipeline", None)
chosen = st.selectbox(
    "Pipeline",
    labels,
    key="flakiness_pipeline",
    help="Failing runs with a passing run on the same commit, a passing rerun or a passing retry.",
)
if chosen:
    cluster, namespace, pipeline = chosen.split("/", 2)
    evidence = data.flaky_evidence(snapshot, cluster, namespace, pipeline)
    kinds = evidence["kind"].value_counts()
    st.caption(", ".join(f"{kind}: {count}" for kind, count in kinds.items()) or "No evidence rows.")
    ui.show_table(evidence, "flaky_evidence")
