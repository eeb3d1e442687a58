"""The raw layer: lossless, idempotent, incremental landing of Tekton objects in `warehouse.duckdb`.

`schema` creates and versions the `raw` tables, `load` bulk-loads source pages through Arrow and DuckDB,
`ingest` drives the configured sources with watermarks, and `cli` adds the `ingest` and `import` commands.
"""
