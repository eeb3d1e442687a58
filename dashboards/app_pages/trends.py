"""Trends: success rate, volume, p50/p95 duration and queue time over time, per pipeline or namespace."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards import data, ui

MAX_SERIES = 12
METRICS = {
    "Success rate": "success_rate",
    "Runs": "runs",
    "p50 duration (s)": "duration_p50_s",
    "p95 duration (s)": "duration_p95_s",
    "p50 queue time (s)": "queue_p50_s",
    "p95 queue time (s)": "queue_p95_s",
}

snapshot, filters = ui.require_data()

controls = st.container(horizontal=True)
with controls:
    group_by = st.segmented_control("Group by", list(data.GROUPINGS), default="pipeline", key="trends_group")
    metric_label = st.segmented_control("Metric", list(METRICS), default="Success rate", key="trends_metric")
group_by = group_by or "pipeline"
metric = METRICS[metric_label or "Success rate"]

series = data.trend_series(snapshot, filters, group_by)
if series.empty:
    ui.show_no_rows("terminal runs")
    st.stop()

busiest = series.groupby("grp")["runs"].sum().sort_values(ascending=False)
shown = busiest.index[:MAX_SERIES].tolist()
if len(busiest) > MAX_SERIES:
    st.caption(
        f"Charting the {MAX_SERIES} busiest of {len(busiest)} {group_by}s; narrow the filters for others."
    )
figure = px.line(
    series[series["grp"].isin(shown)],
    x="day",
    y=metric,
    color="grp",
    markers=True,
    title=f"{metric_label} per day by {group_by}",
    labels={"grp": group_by, metric: metric_label},
)
if metric == "success_rate":
    figure.update_yaxes(tickformat=".0%")
st.plotly_chart(figure, width="stretch")

with st.expander("Daily values"):
    ui.show_table(series.rename(columns={"grp": group_by}), f"trends_by_{group_by}")

st.subheader("Largest changes against the previous period")
previous = filters.previous_period()
st.caption(
    f"{filters.start} to {filters.end} against {previous.start} to {previous.end}, largest p95 duration "
    "change first."
)
changes = data.period_changes(snapshot, filters, group_by)
ui.show_table(
    changes.rename(columns={"grp": group_by}),
    f"changes_by_{group_by}",
    column_config={
        "success_rate": st.column_config.NumberColumn(format="percent"),
        "previous_success_rate": st.column_config.NumberColumn(format="percent"),
        "success_rate_change": st.column_config.NumberColumn(format="%.4f"),
        **{
            column: st.column_config.NumberColumn(format="%.1f")
            for column in changes.columns
            if column.endswith("_s")
        },
    },
)
