# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VaultService: read an object, plan it with the pure functions, write only what the plan says.

Every write goes through ``_Writer.write``, the one place where check mode is decided: in check
mode it records the action and sends nothing, so ``changed`` in check mode is exactly the list of
writes a real run would send. Results carry ``actions``, the managed view before and after (as the
diff when asked for), and ``api_requests``. No result ever holds a token, a JWT or a secret's value.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from .client import VaultClient
from .errors import VaultError, VaultNotFound
from .kubernetes_auth import plan_kubernetes_config, plan_role, plan_role_absent
from .mounts import plan_auth_mount, plan_secrets_engine
from .plan import CREATE, DELETE, NOTHING, UPDATE, Plan
from .policy import plan_policy
from .tenant import TenantRequest, TenantSpec, tenant_policy_text, tenant_role_spec

VERBS = {CREATE: "create", UPDATE: "update", DELETE: "delete"}


class _Writer:
    """Records every write as an action; sends it unless in check mode. The only check-mode switch."""

    def __init__(self, check_mode: bool) -> None:
        self.check_mode = check_mode
        self.actions: list[str] = []

    def write(self, action: str, call: Callable[..., Any], *args) -> None:
        self.actions.append(action)
        if not self.check_mode:
            call(*args)

    def apply(self, what: str, plan: Plan, on_create: Callable, on_update: Callable, on_delete: Callable,
              *args) -> None:
        """Send the plan's one write, described as '<verb> <what> (<changed fields>)'."""
        if plan.action == NOTHING:
            return
        detail = f" ({', '.join(plan.changes)})" if plan.action == UPDATE else ""
        call = {CREATE: on_create, UPDATE: on_update, DELETE: on_delete}[plan.action]
        call_args = args if plan.action == DELETE else (*args, plan.body)
        self.write(f"{VERBS[plan.action]} {what}{detail}", call, *call_args)


def _unsupported(*_args) -> None:  # pragma: no cover - a plan never asks for it
    raise AssertionError("this object has no such write")


class VaultService:
    """Converge mounts, Kubernetes auth, policies and tenants through a VaultClient."""

    def __init__(self, client: VaultClient) -> None:
        self.client = client

    def _result(self, writer: _Writer, want_diff: bool, before: Any, after: Any, **fields) -> dict:
        result = {"changed": bool(writer.actions), "actions": writer.actions, **fields}
        if want_diff:
            result["diff"] = {"before": before, "after": after}
        result["api_requests"] = self.client.api_requests
        return result

    # ------------------------------------------------------------------ secrets engines
    def ensure_secrets_engine(self, spec: dict, state: str, check_mode: bool = False, want_diff: bool = False) -> dict:
        writer = _Writer(check_mode)
        path = spec["path"]
        current = self.client.secret_mounts().get(f"{path}/")
        plan = plan_secrets_engine(current, spec, state)
        client = self.client
        writer.apply(f"secrets engine {path}", plan, client.enable_secret_mount, client.tune_secret_mount,
                     client.disable_secret_mount, path)
        end = plan.after if plan.action != NOTHING else plan.before
        return self._result(writer, want_diff, plan.before, plan.after, path=path,
                            engine_type=end.get("type") or spec["type"], exists=bool(end))

    # ------------------------------------------------------------------ Kubernetes auth
    def ensure_kubernetes_auth(self, mount_path: str, description: str | None, config_spec: dict | None,
                               token_reviewer_jwt: str | None, update_token_reviewer_jwt: str, state: str,
                               check_mode: bool = False, want_diff: bool = False) -> dict:
        writer = _Writer(check_mode)
        client = self.client
        current_mount = client.auth_mounts().get(f"{mount_path}/")
        mount_plan = plan_auth_mount(current_mount, mount_path, "kubernetes", description, state)
        writer.apply(f"kubernetes auth mount {mount_path}", mount_plan, client.enable_auth_mount,
                     client.tune_auth_mount, client.disable_auth_mount, mount_path)
        before = {"mount": mount_plan.before}
        after = {"mount": mount_plan.after}
        if state == "present":
            current_config = client.read(f"auth/{mount_path}/config") if current_mount is not None else None
            config_plan = plan_kubernetes_config(current_config, config_spec, bool(token_reviewer_jwt),
                                                 update_token_reviewer_jwt)
            if config_plan.changed:
                body = dict(config_plan.body)
                if token_reviewer_jwt:
                    body["token_reviewer_jwt"] = token_reviewer_jwt
                detail = f" ({', '.join(config_plan.changes)})" if config_plan.action == UPDATE else ""
                writer.write(f"write auth/{mount_path}/config{detail}", client.write, f"auth/{mount_path}/config", body)
            before["config"] = config_plan.before
            after["config"] = config_plan.after
        return self._result(writer, want_diff, before, after, mount_path=mount_path, exists=state == "present")

    # ------------------------------------------------------------------ policies
    def ensure_policy(self, name: str, text: str | None, state: str, check_mode: bool = False,
                      want_diff: bool = False) -> dict:
        writer = _Writer(check_mode)
        plan = plan_policy(self.client.read_policy(name), name, text, state)
        writer.apply(f"policy {name}", plan, self._write_policy(name), self._write_policy(name),
                     self.client.delete_policy, name)
        result = self._result(writer, False, None, None, name=name, exists=state == "present")
        if want_diff:
            result["diff"] = {"before": plan.before.get("policy", ""), "after": plan.after.get("policy", ""),
                              "before_header": f"policy {name}", "after_header": f"policy {name}"}
        return result

    def _write_policy(self, name: str) -> Callable:
        return lambda _name, body: self.client.write_policy(name, body["policy"])

    # ------------------------------------------------------------------ tenants
    def ensure_tenant(self, spec: TenantSpec, state: str, purge_secrets: bool = False, check_mode: bool = False,
                      want_diff: bool = False) -> dict:
        """One tenant: reads its role and policy (two requests), then writes what differs."""
        client = self.client
        plan = _plan_tenant(TenantRequest(spec, state, purge_secrets), client.read(spec.role_path),
                            client.read_policy(spec.policy_name))
        if plan.needs_auth_mount:
            self._require_kubernetes_auth_mount(spec.auth_mount_path)
        if state == "absent" and purge_secrets:
            plan = plan._replace(secret_paths=self._secret_paths(spec.secrets_folder))
        writer = _Writer(check_mode)
        self._apply_tenant(writer, plan)
        return self._result(writer, want_diff, plan.before, plan.after, **plan.fields())

    def ensure_tenants(self, requests: list, check_mode: bool = False, want_diff: bool = False) -> dict:
        """Many tenants of one auth mount and KV mount (a list of TenantRequest) in one pass.

        Reads batched: one LIST of the ACL policies, one LIST of the mount's roles (and, with purges, one of the KV
        mount's tenant folders), then a GET only of each policy and role that exists, to compare its content (a hand
        edit is repaired). Every tenant is planned before the first write; then each tenant's writes go in turn.
        A failure names the tenant and the step, and lists the tenants converged before it.
        """
        client = self.client
        results: dict = {}
        if not requests:
            return {"changed": False, "actions": [], "tenants": results, **({"diff": []} if want_diff else {}),
                    "api_requests": client.api_requests}
        auth_mount_path, kv_mount_path = requests[0].spec.auth_mount_path, requests[0].spec.kv_mount_path
        if any(request.state == "present" for request in requests):
            # Before any write, and so the role LIST below never reads another kind of auth method's roles.
            self._require_kubernetes_auth_mount(auth_mount_path)
        policy_names = set(client.list("sys/policies/acl"))
        role_names = set(client.list(f"auth/{auth_mount_path}/role"))
        purging = any(request.state == "absent" and request.purge_secrets for request in requests)
        secret_folders = set(client.list(f"{kv_mount_path}/metadata/")) if purging else set()
        plans = []
        for request in requests:
            spec = request.spec
            try:
                plan = _plan_tenant(request,
                                    client.read(spec.role_path) if spec.role_name in role_names else None,
                                    client.read_policy(spec.policy_name) if spec.policy_name in policy_names else None)
                if plan.state == "absent" and plan.purge_secrets and f"{spec.tenant}/" in secret_folders:
                    plan = plan._replace(secret_paths=self._secret_paths(spec.secrets_folder))
            except VaultError as err:
                raise _tenant_failure(err, spec.tenant, f"reading its policy and role at {spec.role_path}", results)
            plans.append(plan)
        all_actions: list = []
        diffs: list = []
        for plan in plans:
            writer = _Writer(check_mode)
            try:
                self._apply_tenant(writer, plan)
            except VaultError as err:
                raise _tenant_failure(err, plan.spec.tenant, writer.actions[-1], results)
            all_actions.extend(writer.actions)
            results[plan.spec.tenant] = {"changed": bool(writer.actions), "state": plan.state,
                                         "actions": writer.actions, **plan.fields()}
            if writer.actions:
                header = f"tenant {plan.spec.tenant}"
                diffs.append({"before": plan.before, "after": plan.after, "before_header": header,
                              "after_header": header})
        result = {"changed": bool(all_actions), "actions": all_actions, "tenants": results}
        if want_diff:
            result["diff"] = diffs
        result["api_requests"] = client.api_requests
        return result

    def _apply_tenant(self, writer: _Writer, plan: "_TenantPlan") -> None:
        """A tenant's writes, in the order that never leaves a usable role without its policy."""
        client, spec = self.client, plan.spec
        write_policy = self._write_policy(spec.policy_name)
        if plan.state == "present":
            # The policy first: a role naming a policy that does not exist yet hands out powerless tokens.
            writer.apply(f"policy {spec.policy_name}", plan.policy, write_policy, write_policy, _unsupported,
                         spec.policy_name)
            writer.apply(f"role {spec.role_path}", plan.role, client.write, client.write, _unsupported, spec.role_path)
            return
        # The role first, so no new token is handed out while the rest goes.
        writer.apply(f"role {spec.role_path}", plan.role, _unsupported, _unsupported, client.delete, spec.role_path)
        writer.apply(f"policy {spec.policy_name}", plan.policy, _unsupported, _unsupported, client.delete_policy,
                     spec.policy_name)
        for path in plan.secret_paths:
            writer.write(f"delete secret {path}", client.delete, path)

    def _require_kubernetes_auth_mount(self, auth_mount_path: str) -> None:
        """A role can only be written on an existing Kubernetes auth mount; say so before any write."""
        mount = self.client.auth_mounts().get(f"{auth_mount_path}/")
        if mount is None or mount.get("type") != "kubernetes":
            found = "nothing" if mount is None else f"an auth method of type {mount.get('type')!r}"
            raise VaultNotFound(
                f"auth_mount_path: there is {found} at auth/{auth_mount_path}, not a Kubernetes auth method. Fix: "
                "configure it first with meridian.observability.vault_kubernetes_auth, or correct auth_mount_path.",
                field="auth_mount_path")

    def _secret_paths(self, folder: str) -> list:
        """Metadata paths of every secret under ``folder`` (a KV v2 metadata folder), depth first, sorted."""
        paths = []
        for key in sorted(self.client.list(f"{folder}/")):
            if key.endswith("/"):
                paths.extend(self._secret_paths(f"{folder}/{key.rstrip('/')}"))
            else:
                paths.append(f"{folder}/{key}")
        return paths


class _TenantPlan(NamedTuple):
    """Everything one tenant needs, decided before its first write."""

    spec: TenantSpec
    state: str
    purge_secrets: bool
    policy: Plan
    role: Plan
    secret_paths: list

    @property
    def needs_auth_mount(self) -> bool:
        return self.state == "present" and self.role.action == CREATE

    def fields(self) -> dict:
        """The per-tenant result fields (names, what changes); never a secret's value."""
        changed_parts = [part for part, plan in (("policy", self.policy), ("role", self.role)) if plan.changed]
        if self.secret_paths:
            changed_parts.append("secrets")
        return {"tenant": self.spec.tenant, "policy_name": self.spec.policy_name, "role_name": self.spec.role_name,
                "changed_parts": changed_parts, "secrets_deleted": len(self.secret_paths)}

    @property
    def before(self) -> dict:
        view = {"policy": self.policy.before.get("policy"), "role": self.role.before or None}
        if self.state == "absent":
            view["secrets"] = len(self.secret_paths) if self.purge_secrets else "(not read)"
        return view

    @property
    def after(self) -> dict:
        view = {"policy": self.policy.after.get("policy"), "role": self.role.after or None}
        if self.state == "absent":
            view["secrets"] = 0 if self.purge_secrets else "(kept)"
        return view


def _plan_tenant(request: TenantRequest, current_role: dict | None, current_policy: str | None) -> _TenantPlan:
    """The policy and role plans of one tenant from what the server holds (None: missing)."""
    spec = request.spec
    if request.state == "present":
        role_plan = plan_role(current_role, tenant_role_spec(spec))
        policy_plan = plan_policy(current_policy, spec.policy_name, tenant_policy_text(spec), "present")
    else:
        role_plan = plan_role_absent(current_role)
        policy_plan = plan_policy(current_policy, spec.policy_name, None, "absent")
    return _TenantPlan(spec, request.state, request.purge_secrets, policy_plan, role_plan, [])


def _tenant_failure(err: VaultError, tenant: str, step: str, converged: dict) -> VaultError:
    """The same kind of error, saying which tenant and step failed and which tenants this call converged first."""
    details = {key: value for key, value in err.details.items() if key not in ("tenant", "tenants")}
    return type(err)(f"tenant {tenant}: {step} failed: {err}", failed_tenant=tenant, tenants=dict(converged),
                     **details)
