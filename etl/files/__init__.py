"""Import of exported files (kubectl JSON/YAML, NDJSON, Tekton Results REST responses, gzip of any of these)."""
