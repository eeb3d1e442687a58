"""UI pieces every page shares: the filters kept in the URL, downloadable tables, empty states, formatting.

The filters live in `st.query_params` (`cluster`, `namespace`, `pipeline`, `from`, `to`) so any view is a link that
can be shared; the router renders them once per run and hands pages a `PageContext`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import data

ALL = "(all)"
FILTER_PARAMS = ("cluster", "namespace", "pipeline")
DATE_PARAMS = ("from", "to")
_CONTEXT_KEY = "page_context"


@dataclass(frozen=True)
class PageContext:
    snapshot: data.Snapshot | None
    filters: data.Filters | None


# ================================================================================================================
# Context handed from the router to the pages
# ================================================================================================================


def set_context(context: PageContext) -> None:
    st.session_state[_CONTEXT_KEY] = context


def require_data() -> tuple[data.Snapshot, data.Filters]:
    """The published snapshot and the filters; stops the page with instructions when nothing is published yet."""
    context: PageContext | None = st.session_state.get(_CONTEXT_KEY)
    if context is None or context.snapshot is None or context.filters is None:
        show_no_warehouse()
        st.stop()
    return context.snapshot, context.filters


def show_no_warehouse() -> None:
    st.info(
        f"No published warehouse at `{data.serving_path()}` yet. {data.EMPTY_HINT}", icon=":material/info:"
    )


def show_no_rows(what: str) -> None:
    st.info(
        f"No {what} for these filters. Widen the date range or clear a filter; if the warehouse is new, "
        f"{data.EMPTY_HINT[0].lower()}{data.EMPTY_HINT[1:]}",
        icon=":material/filter_alt_off:",
    )


# ================================================================================================================
# Filters in the URL
# ================================================================================================================


def render_filters(snapshot: data.Snapshot) -> data.Filters:
    """Sidebar filters initialised from the URL, written back to it so the view is shareable."""
    catalog = data.pipeline_catalog(snapshot)
    bounds = data.day_bounds(snapshot)
    with st.sidebar:
        st.header("Filters")
        cluster = _select("Cluster", catalog, [], "cluster")
        namespace = _select("Namespace", catalog, [("cluster", cluster)], "namespace")
        pipeline = _select(
            "Pipeline",
            catalog,
            [("cluster", cluster), ("namespace", namespace)],
            "pipeline",
            column="pipeline_name",
        )
        start, end = _date_range(bounds)
        if bounds:
            st.caption(f"Data from {bounds[0]} to {bounds[1]} (UTC days).")
    filters = data.Filters(cluster, namespace, pipeline, start, end)
    _write_query_params(filters)
    return filters


def _select(
    label: str,
    catalog: pd.DataFrame,
    narrowed_by: list[tuple[str, str | None]],
    param: str,
    column: str | None = None,
) -> str | None:
    rows = catalog
    for name, value in narrowed_by:
        if value is not None:
            rows = rows[rows[name] == value]
    options = sorted(rows[column or param].dropna().unique().tolist())
    key = f"filter_{param}"
    if key not in st.session_state:
        wanted = st.query_params.get(param)
        if wanted is not None and wanted not in options:
            st.warning(f"{label} `{wanted}` is not in the data; showing all.")
        st.session_state[key] = wanted if wanted in options else ALL
    elif st.session_state[key] not in (ALL, *options):
        # A wider filter changed and this choice no longer exists under it.
        st.session_state[key] = ALL
    choice = st.selectbox(label, [ALL, *options], key=key)
    return None if choice == ALL else choice


def _date_range(bounds: tuple[date, date] | None) -> tuple[date, date]:
    key = "filter_dates"
    default_start, default_end = data.default_range(bounds)
    if key not in st.session_state:
        start = _param_date("from") or default_start
        end = _param_date("to") or default_end
        st.session_state[key] = (min(start, end), max(start, end))
    chosen = st.date_input("Dates (UTC)", key=key, format="YYYY-MM-DD")
    picked = tuple(chosen) if isinstance(chosen, list | tuple) else (chosen,)
    if not picked:
        return default_start, default_end
    # While a range is being picked the widget holds only its first day.
    return picked[0], picked[-1]


def _param_date(name: str) -> date | None:
    value = st.query_params.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        st.warning(f"`{name}={value}` in the link is not a date (YYYY-MM-DD); using the default range.")
        return None


def _write_query_params(filters: data.Filters) -> None:
    wanted = {
        "cluster": filters.cluster,
        "namespace": filters.namespace,
        "pipeline": filters.pipeline,
        "from": filters.start.isoformat(),
        "to": filters.end.isoformat(),
    }
    for name, value in wanted.items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != value:
            st.query_params[name] = value


def page_param(name: str) -> str | None:
    """A page-specific value from the URL (run uid, lineage node), so such views are shareable too."""
    return st.query_params.get(name) or None


def set_page_param(name: str, value: str | None) -> None:
    if value:
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    elif name in st.query_params:
        del st.query_params[name]


# ================================================================================================================
# Tables and numbers
# ================================================================================================================


def show_table(frame: pd.DataFrame, name: str, **dataframe_args: Any) -> None:
    """A table with a CSV download of exactly what is shown."""
    st.dataframe(frame, hide_index=True, width="stretch", **dataframe_args)
    st.download_button(
        f"Download {name}.csv",
        frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"download_{name}",
        icon=":material/download:",
    )


def fmt_seconds(value: float | None) -> str:
    """Durations as analysts read them: 42 s, 3.5 min, 1.2 h."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) < 120:
        return f"{value:.0f} s"
    if abs(value) < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def fmt_percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value * 100:.{digits}f}%"


def fmt_ratio(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.2f}×"
