"""Failures: causes over time, top failing tasks and steps, exit codes, and the failing runs behind them."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards import data, ui

snapshot, filters = ui.require_data()

by_day = data.failure_causes_by_day(snapshot, filters)
if by_day.empty:
    ui.show_no_rows("failing runs")
    st.stop()

totals = by_day.groupby("cause")["failures"].sum().sort_values(ascending=False)
with st.container(horizontal=True):
    st.metric("Failing runs", f"{int(totals.sum()):,}", border=True)
    for cause, count in totals.head(4).items():
        st.metric(f"cause: {cause}", f"{int(count):,}", border=True)

figure = px.bar(
    by_day,
    x="day",
    y="failures",
    color="cause",
    title="Failure causes per day",
    category_orders={"cause": totals.index.tolist()},
)
st.plotly_chart(figure, width="stretch")

# ================================================================================================================
# Where they fail
# ================================================================================================================

left, middle, right = st.columns([2, 2, 1])
with left:
    st.subheader("Top failing tasks")
    ui.show_table(data.top_failing_tasks(snapshot, filters), "top_failing_tasks")
with middle:
    st.subheader("Top failing steps")
    ui.show_table(data.top_failing_steps(snapshot, filters), "top_failing_steps")
with right:
    st.subheader("Exit codes")
    ui.show_table(data.exit_codes(snapshot, filters), "exit_codes")

# ================================================================================================================
# Drill down
# ================================================================================================================

st.subheader("Failing runs")
causes = ["(all)", *totals.index.tolist()]
wanted = ui.page_param("cause")
if "failures_cause" not in st.session_state:
    st.session_state["failures_cause"] = wanted if wanted in causes else "(all)"
if st.session_state["failures_cause"] not in causes:
    st.session_state["failures_cause"] = "(all)"
cause = st.segmented_control("Cause", causes, key="failures_cause") or "(all)"
ui.set_page_param("cause", None if cause == "(all)" else cause)
runs = data.failure_runs(snapshot, filters, None if cause == "(all)" else cause)
st.caption(
    f"{len(runs):,} runs, newest first (at most 1,000). Open a run in Run comparison or Lineage by its uid."
)
ui.show_table(runs, "failing_runs")
