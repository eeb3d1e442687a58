#!/bin/sh
# Prepares the warehouse volume, then runs the given command.
# Dagster reads its instance config from $DAGSTER_HOME/dagster.yaml, which lives on the volume; the image's copy is
# the source of truth, so it is refreshed on every start.
set -eu
mkdir -p "${DAGSTER_HOME:?}" "${TEKTON_WAREHOUSE_HOME:?}"
cp /app/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
exec "$@"
