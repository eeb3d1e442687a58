"""Tekton warehouse reports: the Streamlit entry point, a router over the pages in `app_pages/`.

Run with `streamlit run dashboards/streamlit_app.py` (or `make dashboards`). It reads only the published
`<home>/tekton.duckdb` (env `TEKTON_WAREHOUSE_HOME`, default `.warehouse`), read-only, and notices a republished file
on the next interaction without a restart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR.parent) not in sys.path:
    # Lets `streamlit run` work from a plain checkout, where the project is not installed.
    sys.path.insert(0, str(APP_DIR.parent))

from dashboards import data, ui  # noqa: E402

PAGES_DIR = APP_DIR / "app_pages"

st.set_page_config(page_title="Tekton warehouse", page_icon=":material/account_tree:", layout="wide")

page = st.navigation(
    [
        st.Page(PAGES_DIR / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(PAGES_DIR / "trends.py", title="Trends", icon=":material/trending_up:"),
        st.Page(PAGES_DIR / "flakiness.py", title="Flakiness", icon=":material/shuffle:"),
        st.Page(PAGES_DIR / "comparison.py", title="Run comparison", icon=":material/compare_arrows:"),
        st.Page(PAGES_DIR / "lineage.py", title="Lineage", icon=":material/account_tree:"),
        st.Page(PAGES_DIR / "failures.py", title="Failures", icon=":material/error:"),
        st.Page(PAGES_DIR / "sql.py", title="SQL", icon=":material/terminal:"),
    ],
    position="top",
)

st.title(f"{page.title}")
try:
    snapshot = data.current_snapshot()
    filters = ui.render_filters(snapshot) if snapshot else None
    ui.set_context(ui.PageContext(snapshot, filters))
    page.run()
except data.DashboardDataError as exc:
    st.warning(str(exc), icon=":material/warning:")
