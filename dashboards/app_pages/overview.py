"""Overview: the KPI row for the filters' scope, the latest daily summary, and the last day's regressions."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards import data, ui

snapshot, filters = ui.require_data()
current = data.kpis(snapshot, filters)
previous = data.kpis(snapshot, filters.previous_period())

# ================================================================================================================
# KPI row
# ================================================================================================================

st.caption(
    f"{filters.start} to {filters.end}; deltas against the {filters.previous_period().start} to "
    f"{filters.previous_period().end} period before it."
)
with st.container(horizontal=True):
    st.metric("Runs", f"{current.runs:,}", delta=f"{current.runs - previous.runs:+,}", border=True)
    st.metric(
        "Success rate",
        ui.fmt_percent(current.success_rate, 2),
        delta=None
        if current.success_rate is None
        else f"{(current.success_rate - current.slo_target) * 100:+.2f} pts vs SLO {ui.fmt_percent(current.slo_target)}",
        border=True,
    )
    st.metric(
        "Error-budget burn",
        ui.fmt_ratio(current.error_budget_burn),
        delta=None
        if current.error_budget_burn is None
        else ("over budget" if current.error_budget_burn > 1 else "within budget"),
        delta_color="inverse" if (current.error_budget_burn or 0) > 1 else "normal",
        border=True,
    )
    st.metric("p95 duration", ui.fmt_seconds(current.duration_p95_s), border=True)
    st.metric("p95 queue time", ui.fmt_seconds(current.queue_p95_s), border=True)
    st.metric(
        "Flaky pipelines",
        f"{current.flaky_pipelines:,}",
        border=True,
        help="Pipelines with flaky failures in the flakiness window (fct_flaky_pipelines.is_flaky).",
    )

daily = data.daily_totals(snapshot, filters)
if daily.empty:
    ui.show_no_rows("terminal runs")
else:
    melted = daily.melt(
        id_vars="day", value_vars=["succeeded", "failing", "cancelled"], var_name="status", value_name="count"
    )
    figure = px.bar(
        melted,
        x="day",
        y="count",
        color="status",
        title="Terminal runs per day",
        color_discrete_map={"succeeded": "#2e7d32", "failing": "#c62828", "cancelled": "#9e9e9e"},
    )
    st.plotly_chart(figure, width="stretch")

# ================================================================================================================
# Latest daily summary and regressions
# ================================================================================================================

left, right = st.columns(2)
with left:
    st.subheader("Latest daily summary")
    summary = data.latest_daily_summary()
    if summary is None:
        st.info("No daily summary written yet. `tekton-warehouse summary` writes one to `reports/daily/`.")
    else:
        day, markdown = summary
        with st.container(border=True, height=480):
            st.caption(f"reports/daily/{day}.md")
            st.markdown(markdown)

with right:
    st.subheader(f"Regressions on {filters.end}")
    regressions = data.regressions_on(snapshot, filters, filters.end)
    if regressions.empty:
        st.success("No pipeline regressed on this day (no run failed right after a succeeded one).")
    else:
        st.caption(f"{len(regressions)} runs failed right after a succeeded run of the same pipeline.")
        ui.show_table(regressions, "regressions")
