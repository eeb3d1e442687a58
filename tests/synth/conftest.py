"""A moderately sized history generated once per test session, read back from the files like a consumer would."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from etl.synth import GenerateReport, generate

# SYNTH_TEST_SEED lets a run explore other seeds; every property tested must hold for any seed.
MODERATE = {
    "days": 8,
    "pipelines": 24,
    "runs_per_day": 3.0,
    "seed": int(os.environ.get("SYNTH_TEST_SEED", "7")),
    "namespaces": 4,
}


@dataclass
class History:
    report: GenerateReport
    objects: list[dict[str, Any]]
    records: list[dict[str, Any]]
    truth: dict[str, Any]

    @property
    def pipeline_runs(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == "PipelineRun"]

    @property
    def task_runs(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == "TaskRun"]

    def by_uid(self) -> dict[str, dict[str, Any]]:
        return {o["metadata"]["uid"]: o for o in self.objects}

    def parent_uid(self, tr: dict[str, Any]) -> str | None:
        """A TaskRun's PipelineRun by whichever link is present (data-model.md): owner reference, uid label, or
        the name label resolved to the newest run of that name in the namespace created no later than the child."""
        md = tr["metadata"]
        owners = [o["uid"] for o in md.get("ownerReferences", []) if o["kind"] == "PipelineRun"]
        labels = md.get("labels", {})
        if owners or "tekton.dev/pipelineRunUID" in labels:
            return owners[0] if owners else labels["tekton.dev/pipelineRunUID"]
        name = labels.get("tekton.dev/pipelineRun")
        if name is None:
            return None
        candidates = [
            pr
            for pr in self.pipeline_runs
            if (pr["metadata"]["namespace"], pr["metadata"]["name"]) == (md["namespace"], name)
            and pr["metadata"]["creationTimestamp"] <= md["creationTimestamp"]
        ]
        return max(candidates, key=lambda pr: pr["metadata"]["creationTimestamp"])["metadata"]["uid"]


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    with path.open() as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    out = tmp_path_factory.mktemp("synth-history")
    report = generate(out, **MODERATE)
    return History(
        report,
        read_ndjson(out / "objects.ndjson"),
        read_ndjson(out / "records.ndjson"),
        json.loads((out / "ground_truth.json").read_text()),
    )
