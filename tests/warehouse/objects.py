"""Small hand-made Tekton objects and source pages for raw-layer tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from etl.sources import SOURCE_PAGE_SCHEMA


def tekton_object(
    uid: str,
    *,
    kind: str = "PipelineRun",
    api_version: str = "tekton.dev/v1",
    rv: int | None = 1,
    namespace: str = "ci",
    name: str | None = None,
    reason: str = "Succeeded",
    managed_fields: bool = True,
    embedded_spec: bool = True,
    status: bool = True,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "uid": uid,
        "name": name or f"run-{uid}",
        "namespace": namespace,
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "labels": {"tekton.dev/pipeline": "build"},
    }
    if rv is not None:
        metadata["resourceVersion"] = str(rv)
    if managed_fields:
        metadata["managedFields"] = [{"manager": "controller", "operation": "Update"}]
    obj: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": metadata,
        "spec": {"timeouts": {}},
    }
    if status:
        obj["status"] = {"conditions": [{"type": "Succeeded", "status": "True", "reason": reason}]}
        if embedded_spec:
            obj["status"]["pipelineSpec" if kind == "PipelineRun" else "taskSpec"] = {
                "tasks": [{"name": "t"}]
            }
    return obj


def encode(obj: dict[str, Any] | bytes | str) -> bytes:
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, str):
        return obj.encode()
    return json.dumps(obj).encode()


def page(
    objects: Sequence[dict[str, Any] | bytes | str],
    *,
    update_times: Sequence[datetime | None] | None = None,
    refs: Sequence[str] | None = None,
) -> pa.Table:
    count = len(objects)
    return pa.table(
        {
            "source_ref": refs or [f"test:{i + 1}" for i in range(count)],
            "type_hint": [None] * count,
            "source_update_time": pa.array(update_times or [None] * count, pa.timestamp("us", tz="UTC")),
            "data": pa.array([encode(o) for o in objects], pa.binary()),
        },
        schema=SOURCE_PAGE_SCHEMA,
    )
