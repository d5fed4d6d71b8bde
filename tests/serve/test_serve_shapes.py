"""anytune's types as OpenAI's JSON objects (the parts the SDK tests cannot force)."""

from __future__ import annotations

from servehelp import component, validate

from anytune.serve.shapes import event_json
from anytune.types import Event, Metrics


def test_metrics_events_are_one_flat_object() -> None:
    event = Event(
        id="ftevent-1",
        created_at=1,
        level="info",
        message="Step 1/2",
        metrics=Metrics(step=1, train_loss=0.5, extra={"grad_norm": 2.0}),
    )
    body = event_json(event)
    validate(component("FineTuningJobEvent"), body)
    assert body["type"] == "metrics"
    assert body["data"] == {"step": 1, "train_loss": 0.5, "grad_norm": 2.0}


def test_unknown_levels_become_info() -> None:
    body = event_json(Event(id="e", created_at=1, level="debug", message="m"))
    validate(component("FineTuningJobEvent"), body)
    assert (body["level"], body["type"], body["data"]) == ("info", "message", {})
