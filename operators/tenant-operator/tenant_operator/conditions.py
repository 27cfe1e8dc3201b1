"""Tenant status: observedGeneration and metav1.Condition-shaped conditions, written only on change."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

READY = "Ready"


@dataclass(frozen=True)
class Outcome:
    """How one owned kind fared in a reconcile."""

    condition: str
    ok: bool
    reason: str
    message: str


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_outcome(outcomes: list[Outcome]) -> Outcome:
    failing = [outcome for outcome in outcomes if not outcome.ok]
    if not failing:
        return Outcome(READY, True, "Reconciled", "every owned object is in sync")
    first = failing[0]
    names = ", ".join(outcome.condition for outcome in failing)
    return Outcome(READY, False, first.reason, f"not in sync: {names}; {first.condition}: {first.message}")


def build_conditions(outcomes: list[Outcome], generation: int, previous: list[dict] | None,
                     timestamp: str | None = None) -> list[dict]:
    """Ready first, then one per kind; lastTransitionTime moves only when a status flips."""
    by_type = {condition.get("type"): condition for condition in previous or []}
    stamp = timestamp or now()
    conditions = []
    for outcome in [ready_outcome(outcomes)] + outcomes:
        status = "True" if outcome.ok else "False"
        earlier = by_type.get(outcome.condition)
        transition = earlier.get("lastTransitionTime") if earlier and earlier.get("status") == status else None
        conditions.append({
            "type": outcome.condition,
            "status": status,
            "reason": outcome.reason,
            "message": outcome.message,
            "observedGeneration": generation,
            "lastTransitionTime": transition or stamp,
        })
    return conditions


def build_status(outcomes: list[Outcome], generation: int, namespace: str, previous: dict | None,
                 timestamp: str | None = None) -> dict:
    previous = previous or {}
    return {
        "observedGeneration": generation,
        "namespace": namespace,
        "conditions": build_conditions(outcomes, generation, previous.get("conditions"), timestamp),
    }


def status_differs(desired: dict, live: dict | None) -> bool:
    """Compare the managed keys only (so a status other writers add does not cause a write loop)."""
    live = live or {}
    return any(desired[key] != live.get(key) for key in desired)
