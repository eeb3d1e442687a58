"""Asset keys shared across the definition folders, kept apart so light modules need not import the dbt assets."""

import dagster as dg

RESULTS_KEY = dg.AssetKey(["raw", "tekton_results"])
KUBERNETES_KEY = dg.AssetKey(["raw", "kubernetes"])
RAW_SOURCE_KEYS = (RESULTS_KEY, KUBERNETES_KEY)
SERVING_KEY = dg.AssetKey(["serving", "tekton_duckdb"])
SUMMARY_KEY = dg.AssetKey(["reports", "daily_summary"])
