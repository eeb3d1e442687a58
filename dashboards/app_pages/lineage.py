"""Lineage: from a commit, an image digest or a run, the graph commit → runs → task runs → artifacts → downstream
runs, with each artifact's signing status and the commit's supply-chain row."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui
from dashboards.graph import lineage_dot

snapshot, filters = ui.require_data()

commits = data.recent_commits(snapshot, filters)

# ================================================================================================================
# Where to start
# ================================================================================================================

if "lineage_node" not in st.session_state:
    st.session_state["lineage_node"] = ui.page_param("node") or ""
if not st.session_state["lineage_node"] and not commits.empty:
    # Start from the newest commit with the most to show: consumed artifacts, else any artifact, else any.
    richest = commits.assign(rank=(commits["downstream_runs"] > 0) * 2 + (commits["artifacts"] > 0))
    st.session_state["lineage_node"] = richest.sort_values("rank", ascending=False, kind="stable").iloc[0][
        "commit_sha"
    ]
needle = st.text_input(
    "Commit sha, image digest or run uid/name",
    key="lineage_node",
    help="A commit sha (7+ hex digits), an artifact digest (sha256:… or the hex alone), or a PipelineRun uid or name.",
)
ui.set_page_param("node", needle.strip() or None)

with st.expander(f"Commits first seen in the period ({len(commits)})"):
    ui.show_table(commits, "supply_chains_in_period")

if not needle.strip():
    if commits.empty:
        ui.show_no_rows("commits with runs")
    else:
        st.info("Enter a commit, digest or run to start.")
    st.stop()

starts = data.lineage_start_nodes(snapshot, needle)
if starts.empty:
    st.warning(
        f"Nothing in the lineage matches `{needle.strip()}`. Try a full digest, a longer sha or a run uid."
    )
    st.stop()
if len(starts) > 1:
    st.caption("Several nodes match: " + ", ".join(f"{k} `{i}`" for k, i in starts.itertuples(index=False)))

start_ids = starts["id"].tolist()
edges = data.lineage_edges(snapshot, start_ids)
if not st.toggle("Show task runs", value=True, key="lineage_task_runs"):
    edges = edges[edges["target_kind"] != "task_run"]
if edges.empty:
    st.info("This node has no lineage edges yet (no runs, artifacts or consumers recorded for it).")
    st.stop()
if len(edges) >= data.LINEAGE_MAX_EDGES:
    st.caption(
        f"Showing the first {data.LINEAGE_MAX_EDGES} edges; start from a narrower node to see the rest."
    )

# ================================================================================================================
# Graph and the rows behind it
# ================================================================================================================

node_kinds = {
    **dict(zip(edges["source_id"], edges["source_kind"], strict=True)),
    **dict(zip(edges["target_id"], edges["target_kind"], strict=True)),
}
run_ids = [n for n, k in node_kinds.items() if k in ("pipeline_run", "task_run")]
digests = [n for n, k in node_kinds.items() if k == "artifact"]
commit_ids = [n for n, k in node_kinds.items() if k == "commit"]
keys = data.node_keys(edges)
runs = data.lineage_run_labels(snapshot, [keys[n] for n in run_ids])
artifacts = data.artifacts_for(snapshot, digests)
chains = data.supply_chain_rows(snapshot, commit_ids)

with st.container(horizontal=True):
    st.metric("Runs", f"{sum(1 for n in run_ids if node_kinds[n] == 'pipeline_run'):,}", border=True)
    st.metric("Artifacts", f"{len(digests):,}", border=True)
    st.metric(
        "Signed artifacts", f"{int(artifacts['is_signed'].sum()) if len(artifacts) else 0:,}", border=True
    )

st.graphviz_chart(lineage_dot(edges, runs, artifacts, highlight=set(start_ids)), width="stretch")

st.subheader("Supply chain")
if chains.empty:
    st.caption("No commit in this graph.")
else:
    ui.show_table(
        chains, "supply_chain", column_config={"provenance_complete": st.column_config.CheckboxColumn()}
    )
st.subheader("Artifacts")
ui.show_table(artifacts, "artifacts", column_config={"is_signed": st.column_config.CheckboxColumn("signed")})
with st.expander("Edges"):
    ui.show_table(edges.drop(columns=["source_key", "target_key"]), "lineage_edges")
