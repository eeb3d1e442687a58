# tekton-warehouse: the ETL, dbt project, Dagster definitions and Streamlit reports in one image.
# Build from the repository root:  docker build -t tekton-warehouse:dev .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    TEKTON_WAREHOUSE_HOME=/data \
    DAGSTER_HOME=/data/dagster

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app
# Dependencies first (cached layer), then the project itself, both from the lockfile.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY etl ./etl
COPY dbt ./dbt
COPY dashboards ./dashboards
COPY dagster.yaml ./
RUN uv sync --frozen --no-dev
COPY tekton/image/entrypoint.sh /usr/local/bin/tekton-warehouse-entrypoint

# Non-root, and nothing under /app is writable at run time (the pods use readOnlyRootFilesystem).
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp tekton && mkdir -p /data \
    && chown tekton:tekton /data && chmod 0755 /usr/local/bin/tekton-warehouse-entrypoint
USER 10001
VOLUME ["/data"]
EXPOSE 3000 8501
ENTRYPOINT ["tekton-warehouse-entrypoint"]
CMD ["tekton-warehouse", "--help"]
