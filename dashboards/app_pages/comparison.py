"""Run comparison: one run against its previous run (or any other run): status, duration, commit, param and
result values, tasks."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards import data, ui

snapshot, filters = ui.require_data()

runs = data.comparable_runs(snapshot, filters)
if runs.empty:
    ui.show_no_rows("terminal pipeline runs")
    st.stop()


def _label(uid: str) -> str:
    row = runs.loc[runs["pipeline_run_uid"] == uid]
    if row.empty:
        return uid
    r = row.iloc[0]
    return f"{r.pipeline_run_name} · {r.namespace}/{r.pipeline_name} · {r.status} · {r.completed_at:%Y-%m-%d %H:%M}"


# ================================================================================================================
# Which runs
# ================================================================================================================

options = runs["pipeline_run_uid"].tolist()
wanted = ui.page_param("run")
if wanted and wanted not in options:
    # A shared link may name a run outside the current list: keep it selectable.
    options = [wanted, *options]
if st.session_state.get("comparison_run") not in options:
    # First visit, or the filters changed and the chosen run is no longer listed.
    st.session_state["comparison_run"] = wanted or options[0]
uid = st.selectbox(
    "Run",
    options,
    format_func=_label,
    key="comparison_run",
    help=f"The newest {data.RUN_LIST_LIMIT} terminal runs for the filters.",
)
ui.set_page_param("run", uid)

comparison = data.run_comparison(snapshot, uid)
previous_uid = None if comparison.empty else comparison.at[0, "previous_run_uid"]
previous_uid = None if pd.isna(previous_uid) else previous_uid

other_choices = ["(previous run)", *[o for o in options if o != uid]]
wanted_other = ui.page_param("other")
if "comparison_other" not in st.session_state:
    st.session_state["comparison_other"] = wanted_other if wanted_other in other_choices else other_choices[0]
if st.session_state["comparison_other"] not in other_choices:
    st.session_state["comparison_other"] = other_choices[0]
other_choice = st.selectbox(
    "Compare with",
    other_choices,
    key="comparison_other",
    format_func=lambda o: o if o == "(previous run)" else _label(o),
)
ui.set_page_param("other", None if other_choice == "(previous run)" else other_choice)
other_uid = previous_uid if other_choice == "(previous run)" else other_choice

details = data.run_details(snapshot, [u for u in (uid, other_uid) if u])
this = details[details["pipeline_run_uid"] == uid]
other = details[details["pipeline_run_uid"] == other_uid] if other_uid else details.iloc[0:0]

# ================================================================================================================
# Side by side
# ================================================================================================================

if other_uid is None:
    st.info("This is the first terminal run of its pipeline: there is no previous run to compare with.")


def _summary(frame: pd.DataFrame, title: str) -> None:
    with st.container(border=True):
        st.markdown(f"**{title}**")
        if frame.empty:
            st.caption("—")
            return
        r = frame.iloc[0]
        st.markdown(f"`{r.pipeline_run_name}` · {r.namespace}/{r.pipeline_name}")
        with st.container(horizontal=True):
            st.metric("Status", r.status)
            st.metric("Duration", ui.fmt_seconds(r.duration_s))
            st.metric("Queue", ui.fmt_seconds(r.queue_s))
            st.metric("Tasks", f"{r.task_run_count} ({r.failed_task_count} failed)")
        st.caption(
            f"commit `{r.commit_sha or 'unknown'}` · {r.repo_url or 'repo unknown'} · "
            f"{'signed' if r.is_signed else 'not signed'} · uid `{r.pipeline_run_uid}`"
        )


def _show_values(values: pd.DataFrame, other_label: str) -> None:
    """Changed params and results with both runs' values (all of them on request), from marts.fct_run_values."""
    st.subheader("Param and result values")
    show_all = st.toggle(
        "Show all params and results, not only the changed ones", key="comparison_all_values"
    )
    shown = values if show_all else values[values["changed"]]
    if shown.empty:
        st.caption("No param or result values." if show_all else "No param or result value differs.")
        return
    table = shown.rename(
        columns={"value_kind": "kind", "value_text": "this run", "other_value_text": other_label}
    )[["kind", "name", "this run", other_label, "changed"]]
    ui.show_table(table, "run_values")
    st.caption(
        "Arrays and objects as canonical JSON text (object keys sorted): the form the comparison decides "
        "“changed” on. An empty cell: the run has no such param or result."
    )


left, right = st.columns(2)
with left:
    _summary(this, "This run")
with right:
    _summary(other, "Previous run" if other_choice == "(previous run)" else "Other run")

if other_choice == "(previous run)" and not comparison.empty:
    c = comparison.iloc[0]
    with st.container(horizontal=True):
        st.metric("Transition", c.transition, border=True)
        st.metric("Duration change", ui.fmt_seconds(c.duration_delta_s), border=True)
        st.metric("Duration ratio", ui.fmt_ratio(c.duration_ratio), border=True)
        st.metric("Commit changed", {True: "yes", False: "no"}.get(c.commit_changed, "unknown"), border=True)
    changed = pd.DataFrame(
        {
            "what": ["params changed", "results changed", "tasks added", "tasks removed"],
            "names": [
                ", ".join(list(c[col]) if c[col] is not None else []) or "—"
                for col in ("params_changed", "results_changed", "tasks_added", "tasks_removed")
            ],
        }
    )
    st.table(changed.set_index("what"))

# ================================================================================================================
# Param and result values
# ================================================================================================================

if other_uid:
    _show_values(
        data.run_values(snapshot, uid, other_uid),
        "previous run" if other_choice == "(previous run)" else "other run",
    )

# ================================================================================================================
# Per task
# ================================================================================================================

st.subheader("Tasks")
if other_uid:
    tasks = data.task_durations(snapshot, uid, other_uid)
    added = tasks.loc[tasks["other_status"].isna() & tasks["status"].notna(), "pipeline_task"].tolist()
    removed = tasks.loc[tasks["status"].isna() & tasks["other_status"].notna(), "pipeline_task"].tolist()
    st.caption(f"Added: {', '.join(added) or 'none'} · Removed: {', '.join(removed) or 'none'}")
    chart = tasks.melt(
        id_vars="pipeline_task",
        value_vars=["duration_s", "other_duration_s"],
        var_name="run",
        value_name="seconds",
    ).replace({"run": {"duration_s": "this run", "other_duration_s": "other run"}})
    figure = px.bar(
        chart,
        x="seconds",
        y="pipeline_task",
        color="run",
        barmode="group",
        orientation="h",
        title="Duration per task",
        color_discrete_map={"this run": "#1565c0", "other run": "#90a4ae"},
    )
    figure.update_yaxes(autorange="reversed")
    st.plotly_chart(figure, width="stretch")
    ui.show_table(tasks, "task_comparison")
else:
    tasks = data.task_durations(snapshot, uid, "")
    ui.show_table(tasks[["pipeline_task", "status", "duration_s"]], "tasks")
