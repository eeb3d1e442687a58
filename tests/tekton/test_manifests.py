"""Offline validation of tekton/: every overlay renders, every object matches its schema, RBAC is least privilege,
pods are hardened, and the example pipelines are internally consistent."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from etl.config import SourcesConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
TEKTON_DIR = REPO_ROOT / "tekton"
OVERLAYS = ["base", "overlays/dev", "overlays/prod"]
KUBERNETES_VERSION = "1.33.0"
NAMESPACE = "tekton-warehouse"
ETL_SA = "tekton-warehouse-etl"
UI_SA = "tekton-warehouse-ui"

LEAST_PRIVILEGE = {
    ("tekton.dev", "pipelineruns", "get"),
    ("tekton.dev", "pipelineruns", "list"),
    ("tekton.dev", "pipelineruns", "watch"),
    ("tekton.dev", "taskruns", "get"),
    ("tekton.dev", "taskruns", "list"),
    ("tekton.dev", "taskruns", "watch"),
    ("results.tekton.dev", "results", "get"),
    ("results.tekton.dev", "results", "list"),
    ("results.tekton.dev", "records", "get"),
    ("results.tekton.dev", "records", "list"),
}


@cache
def render(path: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render tekton/"
    out = subprocess.run(
        [kubectl, "kustomize", str(TEKTON_DIR / path)], check=True, capture_output=True, text=True
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def objects(path: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in render(path) if o["kind"] == kind]


def deployment(path: str, name: str) -> dict[str, Any]:
    [found] = [d for d in objects(path, "Deployment") if d["metadata"]["name"] == name]
    return found


def sources_config(path: str) -> SourcesConfig:
    [config_map] = [
        c for c in objects(path, "ConfigMap") if c["metadata"]["name"].startswith("tekton-warehouse-sources")
    ]
    return SourcesConfig.model_validate(yaml.safe_load(config_map["data"]["sources.yaml"]))


# ---------------------------------------------------------------------------------------------------------------
# Deployment manifests
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_objects_match_kubernetes_schemas(overlay: str) -> None:
    rendered = render(overlay)
    assert {o["kind"] for o in rendered} >= {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
    }
    for obj in rendered:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        if obj["kind"] not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]


def test_schema_validation_is_not_vacuous() -> None:
    broken = copy.deepcopy(deployment("base", "dagster-daemon"))
    broken["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesytem"] = True  # typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rbac_is_exactly_least_privilege(overlay: str) -> None:
    granted = set()
    for role in objects(overlay, "ClusterRole") + objects(overlay, "Role"):
        for rule in role["rules"]:
            assert "resourceNames" not in rule and "nonResourceURLs" not in rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        granted.add((group, resource, verb))
    assert granted == LEAST_PRIVILEGE

    bindings = objects(overlay, "ClusterRoleBinding") + objects(overlay, "RoleBinding")
    assert bindings, "the reader role must be bound"
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": ETL_SA, "namespace": NAMESPACE}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_daemon_carries_credentials(overlay: str) -> None:
    for dep in objects(overlay, "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        if dep["metadata"]["name"] == "dagster-daemon":
            assert pod["serviceAccountName"] == ETL_SA
            assert pod["automountServiceAccountToken"] is True
        else:
            assert pod["serviceAccountName"] == UI_SA
            assert pod["automountServiceAccountToken"] is False
            assert not any("projected" in v for v in pod.get("volumes", []))
    for sa in objects(overlay, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened_with_limits_and_probes(overlay: str) -> None:
    for dep in objects(overlay, "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert set(container["resources"]) == {"requests", "limits"}
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
            assert "livenessProbe" in container
            if container.get("ports"):
                assert "readinessProbe" in container
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "/tmp" in mounts, "a read-only root needs a writable /tmp"
            assert "/data" in mounts


def test_reports_mount_the_warehouse_read_only() -> None:
    container = deployment("base", "tekton-warehouse-reports")["spec"]["template"]["spec"]["containers"][0]
    [home] = [m for m in container["volumeMounts"] if m["mountPath"] == "/data"]
    assert home["readOnly"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sources_config_parses_and_points_at_mounted_files(overlay: str) -> None:
    config = sources_config(overlay)
    pod = deployment(overlay, "dagster-daemon")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    [cluster] = config.clusters
    assert cluster.kubernetes is not None and cluster.kubernetes.in_cluster
    results = cluster.results
    assert results is not None and results.token is not None and results.token.file
    assert not results.insecure_skip_tls_verify and not results.plaintext, (
        "TLS stays verified in every overlay"
    )
    token_volume = next(n for n, path in mounts.items() if results.token.file.startswith(path + "/"))
    [projected] = volumes[token_volume]["projected"]["sources"]
    assert projected["serviceAccountToken"]["path"] == Path(results.token.file).name
    assert projected["serviceAccountToken"]["expirationSeconds"] <= 3600
    assert any(results.ca_file.startswith(path + "/") for path in mounts.values())
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["TEKTON_WAREHOUSE_CONFIG"].startswith(mounts["sources"])


def test_prod_delivers_the_summary_from_a_secret() -> None:
    config = sources_config("overlays/prod")
    assert config.delivery.slack is not None
    assert config.delivery.slack.url.env == "SLACK_WEBHOOK_URL"
    container = deployment("overlays/prod", "dagster-daemon")["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": "tekton-warehouse-delivery", "optional": True}} in container["envFrom"]
    assert {p["metadata"]["name"] for p in objects("overlays/prod", "NetworkPolicy")} == {
        "default-deny-ingress",
        "allow-ui-ingress",
    }


def test_image_definition_matches_what_the_pods_run() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--)(\S+)", dockerfile, flags=re.M):
        assert (REPO_ROOT / source).exists(), source
    entrypoint = REPO_ROOT / "tekton/image/entrypoint.sh"
    assert entrypoint.stat().st_mode & 0o111
    venv_bin = Path(shutil.which("dagster-daemon") or REPO_ROOT / ".venv/bin/dagster-daemon").parent
    for dep in objects("base", "Deployment"):
        command = dep["spec"]["template"]["spec"]["containers"][0]["command"]
        program = command[1] if command[0] == "tekton-warehouse-entrypoint" else command[0]
        assert (venv_bin / program).exists(), f"{program} is not installed by the project"
        if program == "streamlit":
            assert (REPO_ROOT / command[2].removeprefix("/app/")).exists()


# ---------------------------------------------------------------------------------------------------------------
# Example pipelines
# ---------------------------------------------------------------------------------------------------------------

TEKTON_SCHEMAS = yaml.safe_load((Path(__file__).parent / "schemas/tekton.yaml").read_text())
REFERENCE = re.compile(r"\$\(((?:params|results|workspaces|tasks|context|tt)\.[^)]+)\)")


def tekton_validator(obj: dict[str, Any]) -> jsonschema.Draft202012Validator:
    kind_key = f"{obj['apiVersion']}/{obj['kind']}"
    schema = {"$defs": TEKTON_SCHEMAS["$defs"], **TEKTON_SCHEMAS["kinds"][kind_key]}
    return jsonschema.Draft202012Validator(schema)


def examples(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects("examples", kind)}


def test_examples_match_their_schemas() -> None:
    rendered = render("examples")
    assert {o["kind"] for o in rendered} >= {
        "Task",
        "Pipeline",
        "TriggerBinding",
        "TriggerTemplate",
        "EventListener",
    }
    for obj in rendered:
        if obj["apiVersion"].startswith(("tekton.dev/", "triggers.tekton.dev/")):
            tekton_validator(obj).validate(obj)
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_tekton_schema_rejects_typos() -> None:
    task = copy.deepcopy(examples("Task")["git-source"])
    task["spec"]["steps"][0]["scirpt"] = "echo"
    assert list(tekton_validator(task).iter_errors(task))
    pipeline = copy.deepcopy(examples("Pipeline")["build-and-push"])
    del pipeline["spec"]["results"][0]["value"]
    assert list(tekton_validator(pipeline).iter_errors(pipeline))


def references(node: Any) -> list[str]:
    text = yaml.safe_dump(node)
    return REFERENCE.findall(text)


def test_task_references_are_declared() -> None:
    for name, task in examples("Task").items():
        spec = task["spec"]
        params = {p["name"] for p in spec.get("params", [])}
        results = {r["name"] for r in spec.get("results", [])}
        workspaces = {w["name"] for w in spec.get("workspaces", [])}
        for ref in references(spec["steps"]):
            scope, _, rest = ref.partition(".")
            key = rest.split(".")[0]
            declared = {"params": params, "results": results, "workspaces": workspaces}[scope]
            assert key in declared, f"Task {name} uses $({ref}) but does not declare it"


def test_pipeline_references_resolve_to_declared_tasks_and_results() -> None:
    tasks = examples("Task")
    for name, pipeline in examples("Pipeline").items():
        spec = pipeline["spec"]
        params = {p["name"] for p in spec.get("params", [])}
        pipeline_tasks = {t["name"]: tasks[t["taskRef"]["name"]] for t in spec["tasks"]}
        for ref in references(spec):
            scope, _, rest = ref.partition(".")
            if scope == "params":
                assert rest in params, f"Pipeline {name} uses undeclared $({ref})"
            elif scope == "tasks":
                task_name, _, result = rest.partition(".results.")
                result = result.removesuffix("[*]")
                declared = {r["name"] for r in pipeline_tasks[task_name]["spec"]["results"]}
                assert result in declared, f"Pipeline {name}: task {task_name} has no result {result}"
        for task in spec["tasks"]:
            task_params = {p["name"] for p in pipeline_tasks[task["name"]]["spec"].get("params", [])}
            given = {p["name"] for p in task.get("params", [])}
            required = {
                p["name"] for p in pipeline_tasks[task["name"]]["spec"]["params"] if "default" not in p
            }
            assert given <= task_params and required <= given, f"Pipeline {name}, task {task['name']}"


def test_build_pipeline_publishes_the_lineage_results() -> None:
    results = {r["name"] for r in examples("Pipeline")["build-and-push"]["spec"]["results"]}
    assert results >= {
        "REPO_URL",
        "REPO_COMMIT",
        "COMMIT_AUTHOR",
        "COMMIT_AUTHOR_EMAIL",
        "COMMIT_MESSAGE",
        "COMMIT_TIMESTAMP",
        "TRIGGER",
        "IMAGE_URL",
        "IMAGE_DIGEST",
    }
    scan_params = {p["name"] for p in examples("Pipeline")["scan-image"]["spec"]["params"]}
    assert scan_params == {"image"}


def test_triggers_wire_binding_template_and_pipeline() -> None:
    template = examples("TriggerTemplate")["build-and-push"]
    binding = examples("TriggerBinding")["github-push"]
    listener = examples("EventListener")["github"]
    declared = {p["name"] for p in template["spec"]["params"]}
    assert {p["name"] for p in binding["spec"]["params"]} == declared
    for ref in references(template["spec"]["resourcetemplates"]):
        assert ref.removeprefix("tt.params.") in declared
    [run] = template["spec"]["resourcetemplates"]
    pipeline = examples("Pipeline")[run["spec"]["pipelineRef"]["name"]]
    assert {p["name"] for p in run["spec"]["params"]} <= {p["name"] for p in pipeline["spec"]["params"]}
    [trigger] = listener["spec"]["triggers"]
    assert trigger["bindings"] == [{"ref": binding["metadata"]["name"]}]
    assert trigger["template"] == {"ref": template["metadata"]["name"]}
    assert listener["spec"]["serviceAccountName"] in {
        s["metadata"]["name"] for s in objects("examples", "ServiceAccount")
    }
