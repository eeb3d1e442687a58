"""Run-failure alerts, sent through the same channels as the daily summary."""

from __future__ import annotations

import dagster as dg

from etl.defs.resources import WarehouseResource
from etl.summary.delivery import alert_message, configured_channels, deliver

MAX_STEP_ERRORS = 5


def failure_alert_document(context: dg.RunFailureSensorContext) -> dict:
    """What failed, as JSON: run, job, partition, and each failed step with its error's first line."""
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events()[:MAX_STEP_ERRORS]:
        error = event.event_specific_data.error if event.event_specific_data else None
        message = (error.message if error else event.message or "").strip().splitlines()
        steps.append({"step": event.step_key, "error": message[0] if message else ""})
    return {
        "run_id": run.run_id,
        "job_name": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "message": (context.failure_event.message or "").strip(),
        "failed_steps": steps,
    }


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Send an alert to the summary's delivery channels when any run fails.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    delivery = warehouse.sources_config().delivery
    if not configured_channels(delivery):
        context.log.info("run %s failed; no delivery channel configured", context.dagster_run.run_id)
        return
    document = failure_alert_document(context)
    lines = [f"Run {document['run_id']} of {document['job_name']} failed."]
    lines += [f"{step['step']}: {step['error']}" for step in document["failed_steps"]]
    deliver(delivery, alert_message(f"Tekton warehouse: {document['job_name']} failed", lines, document))
