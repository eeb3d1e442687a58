"""SQL: a read-only query box over the marts, with the schema beside it.

One SELECT/WITH statement at a time, on a read-only connection with external file access off; at most 10,000 rows
come back and errors are shown as DuckDB words them.
"""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

EXAMPLE = """SELECT pipeline_name, count(*) AS runs, avg(duration_s) AS avg_duration_s
FROM marts.fct_pipeline_runs
GROUP BY pipeline_name
ORDER BY runs DESC"""

snapshot, _ = ui.require_data()

editor, schema_column = st.columns([3, 1])
with schema_column:
    st.subheader("Schema `marts`")
    schema = data.marts_schema(snapshot)
    for table, columns in schema.groupby("table_name", sort=True):
        with st.expander(table):
            st.dataframe(columns[["column_name", "data_type"]], hide_index=True, width="stretch")

with editor:
    with st.form("sql_form"):
        text = st.text_area("Query", value=EXAMPLE, height=220, key="sql_text")
        submitted = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    st.caption(
        f"Read-only, one SELECT/WITH statement, at most {data.SQL_ROW_CAP:,} rows, stopped after "
        f"{data.SQL_TIMEOUT_S:g} s."
    )
    if submitted:
        # Kept in the session so the rerun a download click causes still shows the result.
        try:
            st.session_state["sql_outcome"] = data.run_user_sql(snapshot.path, text)
        except data.UserSqlError as exc:
            st.session_state["sql_outcome"] = str(exc)
    outcome = st.session_state.get("sql_outcome")
    if isinstance(outcome, str):
        st.error(outcome, icon=":material/error:")
    elif outcome is not None:
        if outcome.truncated:
            st.warning(f"Showing the first {data.SQL_ROW_CAP:,} rows; add a LIMIT or aggregate to see all.")
        st.caption(f"{len(outcome.frame):,} rows")
        ui.show_table(outcome.frame, "query_result")
