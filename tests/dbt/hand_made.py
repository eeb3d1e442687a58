"""A small hand-made Tekton history (v1 and v1beta1) whose marts we know by hand.

Pipeline `build` in namespace `ci`: b1 (v1, succeeded, 2024-05-01), b2 (v1beta1, failed test task, 2024-05-02,
new commit and an extra array param), b3 (v1, dashboard rerun of b2, succeeded, same commit as b2).
Pipeline `nightly` (v1beta1, inline spec, generateName): n1 cancelled before it started (2024-05-03), n2 running.
A standalone v1beta1 TaskRun `lint-x`.
"""

from __future__ import annotations

from typing import Any

from tests.helpers.tekton_objects import pipeline_run, step, task_run

COMMIT_1 = "abc1234"
COMMIT_2 = "DEF5678"  # upper-case on purpose: the marts lower-case it


def build_runs() -> list[dict[str, Any]]:
    b1 = pipeline_run(
        "uid-b1",
        "build-1",
        pipeline_ref="build",
        created="2024-05-01T10:00:00Z",
        started="2024-05-01T10:00:05Z",
        completed="2024-05-01T10:05:05Z",
        params={"REPO_URL": "git@GitHub.com:Org/App.git", "revision": COMMIT_1},
        results={"IMAGE_DIGEST": "sha256:1111", "COMMIT_AUTHOR": "Ada"},
        service_account="builder",
        annotations={"chains.tekton.dev/signed": "true"},
        labels={"triggers.tekton.dev/triggers-eventid": "ev-1"},
    )
    b1_clone = task_run(
        "uid-b1-clone",
        "build-1-clone",
        pipeline_run=b1,
        link="owner",
        pipeline_task="clone",
        task="git-clone",
        created="2024-05-01T10:00:06Z",
        started="2024-05-01T10:00:07Z",
        completed="2024-05-01T10:01:07Z",
        steps=[step("clone", 0, "2024-05-01T10:00:17Z", "2024-05-01T10:01:00Z")],
        results={"url": "https://github.com/org/app", "commit": COMMIT_1},
    )
    b1_test = task_run(
        "uid-b1-test",
        "build-1-test",
        pipeline_run=b1,
        link="label",
        pipeline_task="test",
        task_ref="unit-test",
        created="2024-05-01T10:01:08Z",
        started="2024-05-01T10:01:09Z",
        completed="2024-05-01T10:05:00Z",
        steps=[step("unit", 0, "2024-05-01T10:01:12Z", "2024-05-01T10:04:59Z")],
    )
    b2 = pipeline_run(
        "uid-b2",
        "build-2",
        api_version="tekton.dev/v1beta1",
        labels={"tekton.dev/pipeline": "build"},
        created="2024-05-02T10:00:00Z",
        started="2024-05-02T10:00:10Z",
        completed="2024-05-02T10:08:10Z",
        condition=("False", "Failed"),
        message="Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 0",
        params={"REPO_URL": "git@GitHub.com:Org/App.git", "revision": COMMIT_2, "flags": ["-v", "-race"]},
        results={"IMAGE_DIGEST": "sha256:2222", "COMMIT_AUTHOR": "Ada"},
        service_account="builder-beta",
    )
    b2_clone = task_run(
        "uid-b2-clone",
        "build-2-clone",
        pipeline_run=b2,
        link="label",
        pipeline_task="clone",
        task="git-clone",
        api_version="tekton.dev/v1beta1",
        created="2024-05-02T10:00:11Z",
        started="2024-05-02T10:00:12Z",
        completed="2024-05-02T10:01:12Z",
        steps=[step("clone", 0, "2024-05-02T10:00:20Z", "2024-05-02T10:01:10Z")],
        results={"url": "https://github.com/org/app", "commit": COMMIT_2},
    )
    b2_test = task_run(
        "uid-b2-test",
        "build-2-test",
        pipeline_run=b2,
        link="owner",
        pipeline_task="test",
        task_ref="unit-test",
        api_version="tekton.dev/v1beta1",
        created="2024-05-02T10:01:13Z",
        started="2024-05-02T10:01:14Z",
        completed="2024-05-02T10:08:00Z",
        condition=("False", "Failed"),
        steps=[
            step("prepare", 0, "2024-05-02T10:01:44Z", "2024-05-02T10:02:00Z"),
            step("unit", 1, "2024-05-02T10:02:01Z", "2024-05-02T10:07:58Z"),
            step("report", 2, "2024-05-02T10:07:59Z", "2024-05-02T10:07:59Z"),
        ],
        retries=[("False", "Failed")],
    )
    b3 = pipeline_run(
        "uid-b3",
        "build-2-r-x7k2p",
        generate_name="build-2-r-",
        labels={"tekton.dev/pipeline": "build", "dashboard.tekton.dev/rerunOf": "build-2"},
        created="2024-05-02T12:00:00Z",
        started="2024-05-02T12:00:02Z",
        completed="2024-05-02T12:06:02Z",
        params={"REPO_URL": "git@GitHub.com:Org/App.git", "revision": COMMIT_2, "flags": ["-v", "-race"]},
        results={"IMAGE_DIGEST": "sha256:2222", "COMMIT_AUTHOR": "Ada"},
    )
    b3_clone = task_run(
        "uid-b3-clone",
        "build-2-r-x7k2p-clone",
        pipeline_run=b3,
        pipeline_task="clone",
        task="git-clone",
        created="2024-05-02T12:00:03Z",
        started="2024-05-02T12:00:04Z",
        completed="2024-05-02T12:01:04Z",
    )
    b3_test = task_run(
        "uid-b3-test",
        "build-2-r-x7k2p-test",
        pipeline_run=b3,
        pipeline_task="test",
        task_ref="unit-test",
        created="2024-05-02T12:01:05Z",
        started="2024-05-02T12:01:06Z",
        completed="2024-05-02T12:06:00Z",
    )
    return [b1, b1_clone, b1_test, b2, b2_clone, b2_test, b3, b3_clone, b3_test]


def nightly_runs() -> list[dict[str, Any]]:
    n1 = pipeline_run(
        "uid-n1",
        "nightly-abcde",
        generate_name="nightly-",
        api_version="tekton.dev/v1beta1",
        spec={"pipelineSpec": {"tasks": []}},
        created="2024-05-03T01:00:00Z",
        started=None,
        completed="2024-05-03T01:30:00Z",
        condition=("False", "Cancelled"),
    )
    n2 = pipeline_run(
        "uid-n2",
        "nightly-fghij",
        generate_name="nightly-",
        api_version="tekton.dev/v1beta1",
        spec={"pipelineSpec": {"tasks": []}},
        created="2024-05-04T01:00:00Z",
        started="2024-05-04T01:00:30Z",
        completed=None,
        condition=("Unknown", "Running"),
    )
    lint = task_run(
        "uid-lint",
        "lint-x",
        task_ref="lint",
        api_version="tekton.dev/v1beta1",
        created="2024-05-03T02:00:00Z",
        started="2024-05-03T02:00:01Z",
        completed="2024-05-03T02:00:31Z",
        condition=("False", "TaskRunTimeout"),
    )
    return [n1, n2, lint]


def all_objects() -> list[dict[str, Any]]:
    return build_runs() + nightly_runs()
