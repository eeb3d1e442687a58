"""The Kubernetes API source: Tekton PipelineRuns and TaskRuns still held by a cluster."""

from etl.kube.source import KINDS, Kind, KubernetesSource

__all__ = ["KINDS", "Kind", "KubernetesSource"]
