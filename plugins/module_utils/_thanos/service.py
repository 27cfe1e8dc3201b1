# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TenantService: tenants' places in the hashrings and their limits, over any store.

``ensure()`` (one tenant, thanos_tenant) and ``ensure_tenants()`` (many, thanos_tenants) share one path:
read both documents once, apply every tenant's change to a copy, validate it as Thanos would, and write
only what differs, in one store write. Check mode is decided here and nowhere else: it stops after the
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

    # ------------------------------------------------------------ validating a batch

    @staticmethod
    def validate_requests(requests: list, defaults: dict = None) -> list:
        """Every tenant's input, checked before the store is read; returns the requests with ``defaults`` applied.

        ``defaults`` (hashring, hashring_endpoints) fill what a tenant leaves unset. All problems are reported
        at once, each naming its field as ``tenants[<index>].<option>``.
        """
        defaults = defaults or {}
        problems, details, merged, first_index = [], {}, [], {}
        for index, request in enumerate(requests):
            where = f"tenants[{index}]"
            request = dict(request)
            for option in ("hashring", "hashring_endpoints"):
                if request.get(option) in (None, "", []) and defaults.get(option) not in (None, "", []):
                    request[option] = defaults[option]
            request.setdefault("state", "present")
            name = request.get("name")
            try:
                config.validate_tenant_name(name)
            except ThanosConfigError as err:
                problems.append(f"{where}.{err}")
                details.setdefault("field", f"{where}.name")
            else:
                if name in first_index:
                    problems.append(f"{where}.name: {name!r} is listed more than once (first as "
                                    f"tenants[{first_index[name]}].name). Fix: list each tenant once")
                    details.setdefault("field", f"{where}.name")
                first_index.setdefault(name, index)
            if request["state"] == "present" and not request.get("hashring"):
                problems.append(f"{where}.hashring: required when state is present (set it on the tenant, or the "
                                "module's hashring for every tenant)")
                details.setdefault("field", f"{where}.hashring")
            if request.get("limits") is not None:
                try:
                    config.requested_limits_entry(request["limits"])
                except ThanosConfigError as err:
                    problems.append(f"{where}.{err}")
                    details.setdefault("field", f"{where}.limits")
            merged.append(request)
        if problems:
            raise ThanosConfigError("; ".join(problems) + "; nothing was changed", problems=problems,
                                    converged=[], **details)
        return merged

    # ------------------------------------------------------------ converging

    def _converge(self, requests: list, check_mode: bool, name_the_tenant: bool) -> dict:
        """Plan every request against one read of both documents and write what changed in one store write.

        A concurrent change re-reads and re-plans everything. With ``name_the_tenant`` a planning failure says
        which tenant and step failed; nothing is written then, because planning ends before the write.
        """
        adding = any(request.get("state", "present") == "present" for request in requests)
        # Limits before routing when any tenant is added, routing before limits when only removing: at no point
        # does receive route a new tenant without its limits in place. (A tenant removed in the same batch may
        # fall back to write.default for the moment between the two file writes; it is leaving anyway.)
        order = (LIMITS, HASHRINGS) if adding else (HASHRINGS, LIMITS)
        with self.store.locked():
            for attempt in range(1, MAX_ATTEMPTS + 1):
                snapshot, before_hashrings, before_limits = self._load()
                after_hashrings = copy.deepcopy(before_hashrings)
                after_limits = copy.deepcopy(before_limits)
                notes = {}
                for request in requests:
                    notes[request["name"]] = self._plan_one(after_hashrings, after_limits, request, name_the_tenant)
                documents = {HASHRINGS: (before_hashrings, after_hashrings, config.render_hashrings),
                             LIMITS: (before_limits, after_limits, config.render_limits)}
                changes = [(kind, documents[kind][2](documents[kind][1])) for kind in order
                           if documents[kind][0] != documents[kind][1]]
                outcome = {"documents": documents, "notes": notes, "changes": changes, "attempt": attempt}
                if not changes or check_mode:
                    return outcome
                try:
                    self.store.write(snapshot, changes)
                except ThanosConflictError:
                    if attempt == MAX_ATTEMPTS:
                        raise
                    continue
                return outcome
        raise AssertionError("unreachable")  # pragma: no cover

    def _plan_one(self, hashrings, limits, request, name_the_tenant: bool) -> dict:
        """Apply one tenant's request to the documents in place and check the result is still valid."""
        present = request.get("state", "present") == "present"
        try:
            notes = self._plan_present(hashrings, limits, request) if present else \
                self._plan_absent(hashrings, limits, request)
            config.validate_hashrings(hashrings, self.store.describe(HASHRINGS))
            if limits:
                config.validate_limits(limits, self.store.describe(LIMITS))
        except ThanosConfigError as err:
            if not name_the_tenant:
                raise
            step = f"placing it in hashring {request.get('hashring')!r}" if present else "removing it"
            details = dict(err.details, tenant=request["name"], converged=[])
            raise ThanosConfigError(f"tenant {request['name']}: {step} failed: {err}; nothing was changed",
                                    **details) from None
        return notes

    # ------------------------------------------------------------ one tenant (thanos_tenant)

    def ensure(self, request: dict, check_mode: bool = False, want_diff: bool = False) -> dict:
        """Make the tenant present or absent. ``request`` holds name, state, hashring, hashring_endpoints, limits."""
        config.validate_tenant_name(request.get("name"))
        if request.get("limits") is not None:
            config.requested_limits_entry(request["limits"])  # fail on bad input before touching the store
        outcome = self._converge([request], check_mode, name_the_tenant=False)
        hashrings, limits = outcome["documents"][HASHRINGS][1], outcome["documents"][LIMITS][1]
        notes = outcome["notes"][request["name"]]
        changed_kinds = [kind for kind, _text in outcome["changes"]]
        result = {
            "changed": bool(changed_kinds),
            "tenant": self._tenant_result(hashrings, limits, request),
            "hashrings_changed": HASHRINGS in changed_kinds,
            "limits_changed": LIMITS in changed_kinds,
            "created_hashring": notes["created_hashring"],
            "removed_hashrings": notes["removed_hashrings"],
            "attempts": outcome["attempt"],
            "warnings": self._warnings(limits, [request]),
        }
        if want_diff:
            result["diff"] = [
                {
                    "before_header": self.store.describe(kind),
                    "after_header": self.store.describe(kind),
                    "before": render(before) if (before or kind == HASHRINGS) else "",
                    "after": render(after) if (after or kind == HASHRINGS) else "",
                }
                for kind, (before, after, render) in outcome["documents"].items()
            ]
        return result

    # ------------------------------------------------------------ many tenants (thanos_tenants)

    def ensure_tenants(self, requests: list, defaults: dict = None, check_mode: bool = False,
                       want_diff: bool = False) -> dict:
        """Converge every tenant of ``requests`` with one read and at most one write of the store.

        Each request holds a tenant's name, state, limits and optionally hashring and hashring_endpoints
        (``defaults`` fills them). The diff is a list with one entry per tenant that changes (and one per
        hashring created or removed); ``tenants`` maps each name to its end state and whether it changed.
        """
        requests = self.validate_requests(requests, defaults)
        outcome = self._converge(requests, check_mode, name_the_tenant=True)
        (before_hashrings, hashrings, _render), (before_limits, limits, _render_limits) = (
            outcome["documents"][HASHRINGS], outcome["documents"][LIMITS])
        changed_kinds = [kind for kind, _text in outcome["changes"]]
        tenants, diffs = {}, []
        for request in requests:
            name = request["name"]
            before = self._tenant_entry(before_hashrings, before_limits, name)
            after = self._tenant_entry(hashrings, limits, name)
            tenants[name] = dict(self._tenant_result(hashrings, limits, request), changed=before != after)
            if before != after:
                diffs.append({"before_header": f"thanos tenant {name}", "after_header": f"thanos tenant {name}",
                              "before": before, "after": after})
        created = [notes["created_hashring"] for notes in outcome["notes"].values() if notes["created_hashring"]]
        removed = [ring for notes in outcome["notes"].values() for ring in notes["removed_hashrings"]]
        for ring in created + removed:
            entry = config.find_hashring(hashrings if ring in created else before_hashrings, ring)
            shown = {"hashring": ring, "endpoints": (entry or {}).get("endpoints", [])}
            diffs.append({"before_header": f"thanos hashring {ring}", "after_header": f"thanos hashring {ring}",
                          "before": {} if ring in created else shown, "after": shown if ring in created else {}})
        result = {
            "changed": bool(changed_kinds),
            "tenants": tenants,
            "hashrings_changed": HASHRINGS in changed_kinds,
            "limits_changed": LIMITS in changed_kinds,
            "created_hashrings": created,
            "removed_hashrings": removed,
            "attempts": outcome["attempt"],
            "warnings": self._warnings(limits, requests),
        }
        if want_diff:
            result["diff"] = diffs
        return result

    # ------------------------------------------------------------ results

    @staticmethod
    def _tenant_entry(hashrings, limits, name) -> dict:
        """What the documents hold for ``name`` (the hashring listing it, its own limits); {} when neither."""
        entry = {}
        owner = config.exact_tenants(hashrings).get(name)
        if owner is not None:
            entry["hashring"] = owner
        own_limits = config.tenant_limits(limits, name)
        if own_limits is not None:
            entry["limits"] = own_limits
        return entry

    def _tenant_result(self, hashrings, limits, request) -> dict:
        if request.get("state", "present") != "present":
            return {"name": request["name"], "state": "absent"}
        return dict(self._tenant_view(hashrings, limits, request["name"]), state="present")

    def _warnings(self, limits, requests) -> list:
        if config.head_series_limits_enforced(limits):
            return []
        unenforced = [request["name"] for request in requests if request.get("state", "present") == "present"
                      and config.effective_limits(limits, request["name"])["head_series_limit"]]
        if not unenforced:
            return []
        return [f"head_series_limit is set for {', '.join(unenforced)} but write.global.meta_monitoring_url is not, "
                "so Thanos Receive does not enforce head series limits"]
