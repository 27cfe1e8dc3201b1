# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TenantService: a tenant's place in the hashrings and its limits, over any store.

``ensure()`` reads both documents, computes the wanted ones, validates them as Thanos would,
and writes only what differs. Check mode is decided here and nowhere else: it stops after the
comparison. A concurrent writer makes the store raise ThanosConflictError; the service then
re-reads and re-plans, a bounded number of times, so the other writer's change is kept.
"""

from __future__ import annotations

import copy

from . import config
from .errors import ThanosConfigError, ThanosConflictError
from .store import HASHRINGS, LIMITS

MAX_ATTEMPTS = 5


class TenantService:
    def __init__(self, store) -> None:
        self.store = store

    # ------------------------------------------------------------ reading

    def _load(self):
        snapshot = self.store.read()
        hashrings = config.parse_hashrings(snapshot.hashrings_text, self.store.describe(HASHRINGS))
        limits = config.parse_limits(snapshot.limits_text, self.store.describe(LIMITS))
        return snapshot, hashrings, limits

    def _tenant_view(self, hashrings, limits, name) -> dict:
        owner = config.exact_tenants(hashrings).get(name)
        return {
            "name": name,
            "hashring": config.route_tenant(hashrings, name),
            "listed": owner is not None,
            "limits": config.tenant_limits(limits, name),
            "effective_limits": config.effective_limits(limits, name),
        }

    def info(self, name=None) -> dict:
        """Every tenant named in either document (or just ``name``), its hashring and its effective limits."""
        _snapshot, hashrings, limits = self._load()
        names = list(config.exact_tenants(hashrings)) + config.limits_tenants(limits)
        names = sorted(set(names))
        if name is not None:
            names = [name] if name in names else []
        return {
            "tenants": [self._tenant_view(hashrings, limits, tenant) for tenant in names],
            "hashrings": [
                {
                    "name": entry.get("hashring"),
                    "tenants": list(entry.get("tenants") or []),
                    "tenant_matcher_type": entry.get("tenant_matcher_type") or "exact",
                    "catch_all": config.is_catch_all(entry),
                    "endpoints": [config.endpoint_address(e) for e in entry.get("endpoints", [])],
                }
                for entry in hashrings
            ],
            "default_limits": config.effective_limits(limits, "\0no tenant\0"),
            "head_series_limits_enforced": config.head_series_limits_enforced(limits),
        }

    # ------------------------------------------------------------ planning

    @staticmethod
    def _remove_from_hashrings(hashrings: list, name: str, keep: str = None) -> list:
        """Drop ``name`` from every exact tenant list except ``keep``'s; drop hashrings that end up empty.

        An emptied hashring is removed rather than left without tenants, because Thanos would turn it
        into a catch-all serving every tenant. Returns the names of removed hashrings.
        """
        removed = []
        for entry in list(hashrings):
            if entry.get("hashring") == keep or entry.get("tenant_matcher_type") == "glob":
                continue
            tenants = entry.get("tenants") or []
            if name in tenants:
                entry["tenants"] = [t for t in tenants if t != name]
                if not entry["tenants"]:
                    hashrings.remove(entry)
                    removed.append(entry.get("hashring"))
        if removed and not hashrings:
            raise ThanosConfigError(
                f"removing tenant {name!r} would empty hashring {removed[0]!r}, the only one; Thanos needs at least one "
                "hashring. Add another hashring first", hashrings=removed)
        return removed

    @staticmethod
    def _normalise_endpoints(endpoints) -> list:
        rendered = []
        for endpoint in endpoints:
            item = {"address": endpoint["address"]}
            for key in ("capnproto_address", "az"):
                if endpoint.get(key):
                    item[key] = endpoint[key]
            rendered.append(item)
        return rendered

    @staticmethod
    def _same_endpoints(existing, wanted) -> bool:
        def key(endpoint):
            if isinstance(endpoint, str):
                return (endpoint, "", "")
            return tuple(endpoint.get(k) or "" for k in config.ENDPOINT_KEYS)
        wanted_keys = sorted(key(e) for e in wanted)
        existing_keys = sorted(key(e) for e in existing)
        if wanted_keys == existing_keys:
            return True
        # A string endpoint has an implied capnproto address; compare addresses only if the wanted side omits it.
        return sorted(k[0] for k in existing_keys) == sorted(k[0] for k in wanted_keys) and not any(
            k[1] or k[2] for k in wanted_keys)

    def _plan_present(self, hashrings, limits, request) -> dict:
        name = request["name"]
        ring = request.get("hashring")
        if not ring:
            raise ThanosConfigError("hashring: required when state is present", field="hashring")
        notes = {"created_hashring": None, "removed_hashrings": []}
        entry = config.find_hashring(hashrings, ring)
        endpoints = request.get("hashring_endpoints")
        if entry is None:
            known = ", ".join(str(e.get("hashring")) for e in hashrings)
            if not endpoints:
                raise ThanosConfigError(
                    f"hashring {ring!r} does not exist (known: {known}); set hashring_endpoints to create it",
                    field="hashring", known=[e.get("hashring") for e in hashrings])
            entry = {"hashring": ring, "tenants": [], "endpoints": self._normalise_endpoints(endpoints)}
            # Before the first catch-all, or it would never see a tenant.
            position = next((i for i, e in enumerate(hashrings) if config.is_catch_all(e)), len(hashrings))
            hashrings.insert(position, entry)
            notes["created_hashring"] = ring
        else:
            if endpoints and not self._same_endpoints(entry.get("endpoints", []), self._normalise_endpoints(endpoints)):
                raise ThanosConfigError(
                    f"hashring {ring!r} exists with other endpoints; this module does not rewire an existing hashring "
                    "(leave hashring_endpoints unset or make it match)", field="hashring_endpoints")
            if config.is_catch_all(entry):
                raise ThanosConfigError(
                    f"hashring {ring!r} has no tenant list, so it serves every tenant not matched earlier; adding "
                    f"{name!r} would make it serve only {name!r}. Put the tenant in a hashring with a tenant list "
                    "(hashring_endpoints creates one)", field="hashring")
        notes["removed_hashrings"] = self._remove_from_hashrings(hashrings, name, keep=ring)
        if name not in (entry.get("tenants") or []):
            entry["tenants"] = list(entry.get("tenants") or []) + [name]
        routed = config.route_tenant(hashrings, name)
        if routed != ring:
            raise ThanosConfigError(
                f"tenant {name!r} would still be routed to hashring {routed!r}, which is listed before {ring!r} and "
                "matches it (glob pattern)", field="hashring", routed_to=routed)
        if request.get("limits") is not None:
            entry_limits = config.requested_limits_entry(request["limits"])
            write = limits.get("write")
            if not isinstance(write, dict):
                write = limits["write"] = {}
            tenants = write.get("tenants")
            if not isinstance(tenants, dict):
                tenants = write["tenants"] = {}
            if entry_limits is None:
                tenants.pop(name, None)
            else:
                tenants[name] = entry_limits
        return notes

    def _plan_absent(self, hashrings, limits, request) -> dict:
        name = request["name"]
        removed = self._remove_from_hashrings(hashrings, name)
        tenants = ((limits.get("write") or {}).get("tenants"))
        if isinstance(tenants, dict):
            tenants.pop(name, None)
        return {"created_hashring": None, "removed_hashrings": removed}

    # ------------------------------------------------------------ ensure

    def ensure(self, request: dict, check_mode: bool = False, want_diff: bool = False) -> dict:
        """Make the tenant present or absent. ``request`` holds name, state, hashring, hashring_endpoints, limits."""
        config.validate_tenant_name(request.get("name"))
        if request.get("limits") is not None:
            config.requested_limits_entry(request["limits"])  # fail on bad input before touching the store
        with self.store.locked():
            for attempt in range(1, MAX_ATTEMPTS + 1):
                snapshot, before_hashrings, before_limits = self._load()
                after_hashrings = copy.deepcopy(before_hashrings)
                after_limits = copy.deepcopy(before_limits)
                if request.get("state", "present") == "present":
                    notes = self._plan_present(after_hashrings, after_limits, request)
                else:
                    notes = self._plan_absent(after_hashrings, after_limits, request)
                config.validate_hashrings(after_hashrings, self.store.describe(HASHRINGS))
                if after_limits:
                    config.validate_limits(after_limits, self.store.describe(LIMITS))

                changes = []
                # Limits before routing when adding, routing before limits when removing: at no point does
                # receive route a new tenant without its limits in place.
                order = (LIMITS, HASHRINGS) if request.get("state", "present") == "present" else (HASHRINGS, LIMITS)
                documents = {HASHRINGS: (before_hashrings, after_hashrings, config.render_hashrings),
                             LIMITS: (before_limits, after_limits, config.render_limits)}
                for kind in order:
                    before, after, render = documents[kind]
                    if before != after:
                        changes.append((kind, render(after)))
                result = self._result(request, after_hashrings, after_limits, notes, changes, attempt)
                if want_diff:
                    result["diff"] = [
                        {
                            "before_header": self.store.describe(kind),
                            "after_header": self.store.describe(kind),
                            "before": render(before) if (before or kind == HASHRINGS) else "",
                            "after": render(after) if (after or kind == HASHRINGS) else "",
                        }
                        for kind, (before, after, render) in documents.items()
                    ]
                if not changes or check_mode:
                    return result
                try:
                    self.store.write(snapshot, changes)
                except ThanosConflictError:
                    if attempt == MAX_ATTEMPTS:
                        raise
                    continue
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(self, request, hashrings, limits, notes, changes, attempt) -> dict:
        name = request["name"]
        changed_kinds = [kind for kind, _text in changes]
        warnings = []
        view = self._tenant_view(hashrings, limits, name)
        if request.get("state", "present") == "present" and view["effective_limits"]["head_series_limit"] \
                and not config.head_series_limits_enforced(limits):
            warnings.append("head_series_limit is set but write.global.meta_monitoring_url is not, so Thanos "
                            "Receive does not enforce head series limits")
        return {
            "changed": bool(changes),
            "tenant": dict(view, state=request.get("state", "present")) if request.get("state", "present") == "present"
            else {"name": name, "state": "absent"},
            "hashrings_changed": HASHRINGS in changed_kinds,
            "limits_changed": LIMITS in changed_kinds,
            "created_hashring": notes["created_hashring"],
            "removed_hashrings": notes["removed_hashrings"],
            "attempts": attempt,
            "warnings": warnings,
        }
