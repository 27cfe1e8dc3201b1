"""kopf wiring: watch events start reconciles, a resync loop repeats them, nothing else writes.

Run with `kopf run --standalone -A -m tenant_operator.handlers`.

Why no @kopf.on.create/update/resume and no @kopf.timer: kopf keeps progress and
"last handled" annotations for change handlers, and a timer makes kopf put a finalizer on
every Tenant, so a Tenant could not be deleted while the operator is down. This operator
needs neither: a reconcile is a pure function of the Tenant and the cluster, so watch events
(@kopf.on.event, which kopf keeps no state for) and a periodic resync suffice, and the
only writes are the ones a reconcile decides on.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import time

import kopf

from tenant_operator import GROUP, MANAGED_BY, MANAGED_BY_LABEL, PLURAL, TENANT_LABEL, VERSION
from tenant_operator.kube import KubeClient, RequestCounter
from tenant_operator.reconcile import ReconcileResult, list_tenants, reconcile

logger = logging.getLogger("tenant_operator")

DEFAULT_RESYNC_SECONDS = 60.0
# (group, version, plural) of every owned kind; a deleted one brings its Tenant's reconcile forward.
OWNED_RESOURCES = (
    ("", "v1", "namespaces"),
    ("", "v1", "resourcequotas"),
    ("", "v1", "limitranges"),
    ("", "v1", "serviceaccounts"),
    ("rbac.authorization.k8s.io", "v1", "roles"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("networking.k8s.io", "v1", "networkpolicies"),
)


def resync_seconds() -> float:
    """TENANT_OPERATOR_RESYNC_SECONDS: how often every Tenant is reconciled even without events."""
    raw = os.environ.get("TENANT_OPERATOR_RESYNC_SECONDS", "")
    try:
        value = float(raw) if raw else DEFAULT_RESYNC_SECONDS
    except ValueError:
        raise SystemExit(f"TENANT_OPERATOR_RESYNC_SECONDS={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise SystemExit(f"TENANT_OPERATOR_RESYNC_SECONDS={raw!r} must be positive")
    return value


class ReconcileQueue:
    """At most one reconcile per Tenant at a time; requests that arrive meanwhile collapse into one rerun."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._bodies: dict[str, dict | None] = {}

    async def request(self, name: str, body: dict | None = None) -> ReconcileResult | None:
        """Reconcile `name` now (with its latest body, if known); None if folded into a running one."""
        self._bodies[name] = body
        if name in self._running:
            self._again.add(name)
            return None
        self._running.add(name)
        try:
            while True:
                self._again.discard(name)
                latest = self._bodies.pop(name, None)
                result = await asyncio.to_thread(reconcile, self.client, name, latest)
                _log_result(result)
                if name not in self._again:
                    return result
        finally:
            self._running.discard(name)


def _log_result(result: ReconcileResult) -> None:
    if result.changes:
        logger.info("tenant %s: %s", result.tenant, "; ".join(result.changes))
    if result.status_written:
        failing = [f"{o.condition}={o.reason}" for o in result.outcomes if not o.ok]
        logger.info("tenant %s: status written (%s)", result.tenant,
                    "Ready" if not failing else "not ready: " + ", ".join(failing))


class ResyncStats:
    """The last resync's numbers, served on the liveness endpoint and logged once per resync."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.completed = 0
        self.last: dict = {}
        self.totals = RequestCounter()

    def record(self, started: float, list_requests: dict[str, int], results: list) -> None:
        per_tenant = {}
        for result in results:
            if isinstance(result, ReconcileResult):
                per_tenant[result.tenant] = {"requests": result.requests, "writes": result.writes,
                                             "ready": result.ready, "skipped": result.skipped}
        writes = sum(entry["writes"] for entry in per_tenant.values())
        reads = sum(entry["requests"].get("GET", 0) for entry in per_tenant.values())
        self.completed += 1
        self.last = {
            "number": self.completed,
            "finished_at": time.time(),
            "duration_seconds": round(time.monotonic() - started, 3),
            "tenants": len(per_tenant),
            "list_requests": list_requests,
            "reads": reads,
            "writes": writes,
            "per_tenant": per_tenant,
        }
        logger.info("resync %d: %d tenants in %.2fs, %d reads + %d list, %d writes",
                    self.completed, len(per_tenant), self.last["duration_seconds"], reads,
                    sum(list_requests.values()), writes)

    def as_dict(self) -> dict:
        return {"interval_seconds": self.interval, "completed": self.completed, "last": self.last,
                "total_requests": self.totals.snapshot()}


async def resync_forever(memo: kopf.Memo) -> None:
    """Every interval, list the Tenants and reconcile each: edits are healed, missed events caught up."""
    while True:
        await asyncio.sleep(memo.stats.interval)
        started = time.monotonic()
        counter = RequestCounter()
        try:
            tenants = await asyncio.to_thread(list_tenants, memo.client.counted(counter))
            results = await asyncio.gather(
                *(memo.queue.request(t["metadata"]["name"], t) for t in tenants), return_exceptions=True)
            for outcome in results:
                if isinstance(outcome, BaseException):
                    logger.error("resync: reconcile failed: %r", outcome)
            memo.stats.record(started, counter.snapshot(), results)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the loop must survive an API outage and try again
            logger.exception("resync failed; retrying in %.0fs", memo.stats.interval)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_) -> None:
    # kopf would post an Event (a write) for every INFO message of a handler; keep only warnings.
    settings.posting.level = logging.WARNING
    # Every liveness probe would otherwise log two lines (the probe activity and the HTTP access).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("kopf.activities.probe").setLevel(logging.WARNING)
    # Progress and diff-base storage stay unused: only @kopf.on.event handlers are registered,
    # and kopf keeps no per-object state for those.
    interval = resync_seconds()
    memo.client = await asyncio.to_thread(KubeClient.from_environment)
    memo.stats = ResyncStats(interval)
    memo.client = memo.client.counted(memo.stats.totals)
    memo.queue = ReconcileQueue(memo.client)
    memo.resync_task = asyncio.create_task(resync_forever(memo), name="tenant-resync")
    logger.info("tenant operator started; resync every %.0fs", interval)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_) -> None:
    task = getattr(memo, "resync_task", None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _tenant_needs_reconcile(type, body, **_) -> bool:  # noqa: A002 - kopf passes `type`
    """Initial listing, creation and spec changes; our own status writes do not re-trigger."""
    if type == "DELETED":
        return False
    if type in (None, "ADDED"):
        return True
    observed = (body.get("status") or {}).get("observedGeneration")
    return observed != body.get("metadata", {}).get("generation")


@kopf.on.event(GROUP, VERSION, PLURAL, when=_tenant_needs_reconcile)
async def tenant_changed(name: str, body: kopf.Body, memo: kopf.Memo, **_) -> None:
    await memo.queue.request(name, copy.deepcopy({key: body[key] for key in body}))


async def owned_object_deleted(labels: kopf.Labels, memo: kopf.Memo, **_) -> None:
    """An owned object was deleted (by hand, or by the GC after its Tenant): reconcile that Tenant now."""
    await memo.queue.request(labels[TENANT_LABEL])


def _deleted(type, **_) -> bool:  # noqa: A002 - kopf passes `type`
    return type == "DELETED"


for _group, _version, _plural in OWNED_RESOURCES:
    kopf.on.event(_group, _version, _plural, id=f"owned-{_plural}", when=_deleted,
                  labels={MANAGED_BY_LABEL: MANAGED_BY, TENANT_LABEL: kopf.PRESENT})(owned_object_deleted)


@kopf.on.probe(id="resync")
def resync_probe(memo: kopf.Memo, **_) -> dict:
    """Served on the liveness endpoint: the last resync's requests per Tenant (the no-write proof)."""
    stats = getattr(memo, "stats", None)
    return stats.as_dict() if stats else {}
