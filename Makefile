# The README's two commands are `make demo` and `make test`; .ci/run calls `make test`.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen

.PHONY: setup demo test lint format browser bench protos dagster dashboards clean

setup:  ## install uv if missing, then the locked Python environment in .venv
	@command -v uv >/dev/null 2>&1 || [ -x "$(HOME)/.local/bin/uv" ] || python3 -m pip install --quiet --user uv
	@$(UV) sync --frozen --quiet --compile-bytecode

browser:  ## Debian's Chromium and ChromeDriver, for the real-browser dashboard tests
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

demo: setup  ## synthetic history -> local Results server -> ingest -> dbt -> tekton.duckdb -> Streamlit + Dagster UI
	@$(RUN) tekton-warehouse demo

test: setup browser lint  ## the whole test suite (what CI runs)
	@$(RUN) pytest -q -p no:cacheprovider

lint: setup
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .

format: setup
	@$(RUN) ruff check --fix .
	@$(RUN) ruff format .

bench: setup  ## benchmarks with same-run baselines; figures go to bench/RESULTS.md
	@$(RUN) python -m bench

protos: setup  ## regenerate the Tekton Results gRPC stubs from etl/tekton_results/proto
	@$(RUN) python -m etl.tekton_results.gen_protos

dashboards: setup  ## the Streamlit reports on <home>/tekton.duckdb (env TEKTON_WAREHOUSE_HOME)
	@$(RUN) streamlit run dashboards/streamlit_app.py

clean:
	rm -rf .warehouse dbt/target dbt/logs
