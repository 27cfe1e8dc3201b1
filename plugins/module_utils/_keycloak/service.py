# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TenantRealmService: read a tenant's realm, compare it with the spec, write only the differences.

``ensure`` reads (GETs only), projects what it read onto the managed fields,
and walks the differences. Every write goes through ``_Writer.write``, the one
place where check mode is decided: in check mode it records what it would do
and sends nothing, so ``changed`` in check mode is exactly the list of writes a
real run would send. A realm that does not exist yet is created in one request
(Keycloak imports the clients, mappers, roles, groups and users with it).

``ensure_many`` does the same for a batch of tenants with one client (one admin
token): it reads every tenant's realm first, refuses realms named after a tenant
that this collection did not make, and only then converges the tenants one after
the other, so bad news arrives before the first write. A batch of more than
``REALM_LIST_MIN_TENANTS`` tenants reads the realms in one request that lists them
all, instead of one request per tenant (on the 2-core lab, sixty realms Keycloak
had not served since it started: about 5 s as one list, 0.3-1.4 s each alone).
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from .client import KeycloakClient
from .errors import KeycloakError, KeycloakForeignRealm
from .tenant import (
    BUILTIN_CLIENTS,
    GROUPS_CLAIM,
    PASSWORD_MASK,
    TENANT_CLAIM,
    Snapshot,
    TenantRequest,
    TenantSpec,
    declared_users,
    desired_view,
    normalise,
    project,
)

# Fields the admin API returns that describe the caller's rights, not the object; never sent back.
READ_ONLY_FIELDS = frozenset({"access", "userProfileMetadata"})
# Realm roles Keycloak creates in every realm; the info module leaves them out.
BUILTIN_ROLE_PREFIX = "default-roles-"
BUILTIN_ROLES = frozenset({"offline_access", "uma_authorization"})
INFO_CLIENT_FIELDS = ("clientId", "name", "description", "enabled", "protocol", "publicClient", "bearerOnly",
                      "clientAuthenticatorType", "standardFlowEnabled", "implicitFlowEnabled",
                      "directAccessGrantsEnabled", "serviceAccountsEnabled", "redirectUris", "webOrigins")
PLACEHOLDER_ID = "(created in this run)"
REALM_LIST_MIN_TENANTS = 10
# Marks a realm not read yet, apart from None (read: it does not exist).
_UNREAD: Any = object()
SECRET_RESULTS = ("gateway_client_secret", "grafana_client_secret")


class _Writer:
    """Records every write as an action; sends it unless in check mode. The only check-mode switch."""

    def __init__(self, check_mode: bool) -> None:
        self.check_mode = check_mode
        self.actions: list[str] = []

    def write(self, action: str, call: Callable[..., Any], *args) -> Any:
        self.actions.append(action)
        if self.check_mode:
            return PLACEHOLDER_ID
        try:
            return call(*args)
        except KeycloakError as err:
            # The step that failed, in the words of the actions list; same error type, so callers still tell them apart.
            raise type(err)(f"{action} failed: {err}", **err.details) from err


class _Endpoints:
    """Issuer and key-set URL of realms, from as few discovery documents as possible.

    Keycloak builds both from its hostname setting for every realm that has no frontendUrl of its own, so the
    first document read gives every other such realm's URLs; a realm with its own frontendUrl is asked itself.
    """

    def __init__(self, client: KeycloakClient) -> None:
        self.client = client
        self._shared_prefix: str | None = None

    def of(self, name: str, realm: dict | None, exists: bool) -> tuple:
        issuer = f"{self.client.base_url}/realms/{name}"
        jwks = f"{issuer}/protocol/openid-connect/certs"
        if not exists:
            return issuer, jwks
        own_frontend = ((realm or {}).get("attributes") or {}).get("frontendUrl")
        if self._shared_prefix is not None and not own_frontend:
            issuer = f"{self._shared_prefix}/realms/{name}"
            return issuer, f"{issuer}/protocol/openid-connect/certs"
        discovery = self.client.get_discovery(name)
        if not discovery:
            return issuer, jwks
        issuer = discovery.get("issuer", issuer)
        jwks = discovery.get("jwks_uri", jwks)
        suffix = f"/realms/{name}"
        if not own_frontend and issuer.endswith(suffix) and jwks == f"{issuer}/protocol/openid-connect/certs":
            self._shared_prefix = issuer[:-len(suffix)]
        return issuer, jwks


def _owned_by_tenant(spec: TenantSpec, snapshot: Snapshot) -> bool:
    """True when there is no realm, or its gateway client carries the tenant claim with this tenant's name (as
    ``ensure`` creates it): only then may a batch converge or delete it without being told to adopt it."""
    if snapshot.realm is None:
        return True
    gateway = snapshot.clients.get(spec.gateway_client_id) or {}
    return any(mapper.get("name") == TENANT_CLAIM and (mapper.get("config") or {}).get("claim.value") == spec.name
               for mapper in gateway.get("protocolMappers") or [])


def _without_read_only(representation: dict) -> dict:
    return {key: value for key, value in representation.items() if key not in READ_ONLY_FIELDS}


def _mapper_list(mappers: dict) -> list:
    return [{"name": name, **copy.deepcopy(mapper)} for name, mapper in sorted(mappers.items())]


def _client_representation(view: dict) -> dict:
    representation = {key: copy.deepcopy(value) for key, value in view.items() if key != "protocolMappers"}
    representation["protocolMappers"] = _mapper_list(view["protocolMappers"])
    return representation


def _user_representation(view: dict, password: str | None, group_names: list) -> dict:
    representation = {key: value for key, value in view.items() if key != "password"}
    if password:
        representation["credentials"] = [{"type": "password", "value": password, "temporary": False}]
    if group_names:
        representation["groups"] = [f"/{name}" for name in group_names]
    return representation


def _user_groups(desired: dict, username: str) -> list:
    return sorted(name for name, group in desired["groups"].items() if username in group["members"])


class TenantRealmService:
    """Converge and describe tenant realms through a KeycloakClient."""

    def __init__(self, client: KeycloakClient) -> None:
        self.client = client

    # ------------------------------------------------------------------ reading
    def read(self, spec: TenantSpec, realm: dict | None = _UNREAD) -> Snapshot:
        """Everything ``ensure`` compares, with GETs only (one per list, one per user not found among the members).

        ``realm`` is the realm's representation when the caller has read it already.
        """
        realm_name = spec.name
        if realm is _UNREAD:
            realm = self.client.get_realm(realm_name)
        if realm is None:
            return Snapshot(realm=None)
        snapshot = Snapshot(realm=realm)
        snapshot.clients = {client["clientId"]: client for client in self.client.list_clients(realm_name)}
        snapshot.roles = {role["name"]: role for role in self.client.list_realm_roles(realm_name)}
        snapshot.groups = {group["name"]: group for group in self.client.list_groups(realm_name)}
        for group_name in spec.groups.values():
            group = snapshot.groups.get(group_name)
            if group is not None:
                snapshot.members[group_name] = self.client.group_members(realm_name, group["id"])
        known = {user["username"]: user for members in snapshot.members.values() for user in members}
        for username in declared_users(spec):
            snapshot.users[username] = known.get(username) or self.client.find_user(realm_name, username)
        return snapshot

    # ------------------------------------------------------------------ converging
    def ensure(self, spec: TenantSpec, state: str = "present", check_mode: bool = False, want_diff: bool = False,
               return_client_secret: bool = False) -> dict:
        """Bring the tenant's realm to ``state``; returns the module result (changed, actions, diff, endpoints)."""
        writer = _Writer(check_mode)
        if state == "absent":
            result = self._ensure_absent(spec, self.client.get_realm(spec.name), writer, want_diff)
        else:
            result = self._ensure_present(spec, self.read(spec), writer, want_diff, return_client_secret,
                                          _Endpoints(self.client))
        result["api_requests"] = dict(self.client.request_counts)
        return result

    def ensure_many(self, requests: list[TenantRequest], check_mode: bool = False, want_diff: bool = False,
                    return_client_secret: bool = False) -> dict:
        """Converge a batch of TenantRequests; returns keycloak_tenants' result.

        Every realm is read before the first write. A KeycloakError names the tenant (and, from ``_Writer``, the
        step); once writing has begun its details carry ``tenants``, the results of the tenants already converged.
        """
        snapshots = {}
        listed = self._listed_realms(requests)
        for request in requests:
            name = request.spec.name
            try:
                realm = listed.get(name, _UNREAD)
                snapshots[name] = (self.read(request.spec, realm) if request.state == "present"
                                   else self._read_for_removal(name, realm))
            except KeycloakError as err:
                raise type(err)(f"tenant {name}: reading its realm failed: {err}", **{**err.details, "tenant": name}) from err
        self._refuse_foreign_realms(requests, snapshots)

        endpoints = _Endpoints(self.client)
        results: dict = {}
        diffs: list = []
        secrets: dict = {}
        for request in requests:
            spec = request.spec
            writer = _Writer(check_mode)
            try:
                if request.state == "absent":
                    result = self._ensure_absent(spec, snapshots[spec.name].realm, writer, want_diff)
                else:
                    result = self._ensure_present(spec, snapshots[spec.name], writer, want_diff, return_client_secret,
                                                  endpoints)
            except KeycloakError as err:
                converged = any(outcome["changed"] for outcome in results.values())
                raise type(err)(f"tenant {spec.name}: {err}", **{**err.details, "tenant": spec.name, "tenants": results,
                                                                 "changed": converged or bool(writer.actions)}) from err
            diff = result.pop("diff", None)
            tenant_secrets = {key: result.pop(key) for key in SECRET_RESULTS if key in result}
            if return_client_secret:
                secrets[spec.name] = tenant_secrets
            if diff is not None and result["changed"]:
                diffs.append({"before_header": f"tenant {spec.name}: realm {spec.name} before",
                              "after_header": f"tenant {spec.name}: realm {spec.name} after"
                                              + (" (predicted)" if check_mode else ""), **diff})
            results[spec.name] = result

        batch = {"changed": any(result["changed"] for result in results.values()), "tenants": results,
                 "api_requests": dict(self.client.request_counts)}
        if want_diff:
            batch["diff"] = diffs
        if return_client_secret:
            batch["client_secrets"] = secrets
        return batch

    def _listed_realms(self, requests: list[TenantRequest]) -> dict:
        """The batch's realms from one list request, by name; empty for a small batch (each realm is read alone).

        A realm missing from the list is still read alone (the caller may not see every realm, and a 404 is what
        tells absent from hidden), and so is one listed without a field the converge compares.
        """
        if len(requests) <= REALM_LIST_MIN_TENANTS:
            return {}
        wanted = {request.spec.name: desired_view(request.spec)["realm"].keys() if request.state == "present"
                  else ("realm",) for request in requests}
        return {realm["realm"]: realm for realm in self.client.list_realms()
                if realm.get("realm") in wanted and all(key in realm for key in wanted[realm["realm"]])}

    def _read_for_removal(self, name: str, realm: dict | None = _UNREAD) -> Snapshot:
        """The realm and its clients (to tell whether it is the tenant's), for a tenant being offboarded."""
        if realm is _UNREAD:
            realm = self.client.get_realm(name)
        if realm is None:
            return Snapshot(realm=None)
        return Snapshot(realm=realm, clients={client["clientId"]: client for client in self.client.list_clients(name)})

    def _refuse_foreign_realms(self, requests: list[TenantRequest], snapshots: dict) -> None:
        foreign = [request.spec.name for request in requests
                   if not request.adopt and not _owned_by_tenant(request.spec, snapshots[request.spec.name])]
        if foreign:
            raise KeycloakForeignRealm(
                f"realm(s) {', '.join(foreign)} already exist in Keycloak at {self.client.base_url} but were not made "
                f"for the tenant by this collection (their gateway client carries no '{TENANT_CLAIM}' claim with the "
                "tenant's name), so converging or deleting them would overwrite someone else's realm. Nothing was "
                "changed. Fix: rename the tenant, remove that realm, or, if it is the tenant's realm after all, set "
                "adopt: true on its entry.", foreign_realms=foreign)

    def _ensure_present(self, spec: TenantSpec, snapshot: Snapshot, writer: _Writer, want_diff: bool,
                        return_client_secret: bool, endpoints: _Endpoints) -> dict:
        desired = desired_view(spec)
        before = project(snapshot, desired)
        after = copy.deepcopy(desired)
        self._mark_passwords(spec, snapshot, after)
        if snapshot.realm is None:
            writer.write(f"create realm {spec.name} with clients {spec.gateway_client_id} and {spec.grafana_client_id}, "
                         f"roles, groups and {len(desired['users'])} user(s)",
                         self.client.create_realm, self._realm_import(spec, desired))
        else:
            self._converge(spec, snapshot, desired, writer)

        exists_after = not (writer.check_mode and snapshot.realm is None)
        result = self._endpoints(spec, endpoints.of(spec.name, snapshot.realm, exists_after), exists_after)
        result.update(changed=bool(writer.actions), actions=writer.actions, end_state=after)
        if want_diff:
            result["diff"] = {"before": before, "after": after}
        if return_client_secret:
            result.update(self._secrets(spec, snapshot, writer))
        return result

    def _ensure_absent(self, spec: TenantSpec, realm: dict | None, writer: _Writer, want_diff: bool) -> dict:
        if realm is not None:
            writer.write(f"delete realm {spec.name}", self.client.delete_realm, spec.name)
        result = {"changed": bool(writer.actions), "actions": writer.actions, "name": spec.name, "exists": False}
        if want_diff:
            before = {} if realm is None else {"realm": {key: realm.get(key) for key in ("realm", "displayName", "enabled")}}
            result["diff"] = {"before": before, "after": {}}
        return result

    @staticmethod
    def _mark_passwords(spec: TenantSpec, snapshot: Snapshot, after: dict) -> None:
        """Passwords cannot be read back: a password that will be sent shows as a mask in the predicted state."""
        for user in spec.users:
            if not user.password:
                continue
            exists = snapshot.realm is not None and snapshot.users.get(user.username) is not None
            if not exists or spec.update_password == "always":
                after["users"][user.username]["password"] = PASSWORD_MASK

    def _realm_import(self, spec: TenantSpec, desired: dict) -> dict:
        """One representation that creates the realm with everything in it."""
        passwords = {user.username: user.password for user in spec.users}
        representation = dict(desired["realm"])
        representation["roles"] = {"realm": [{"name": name, **role} for name, role in sorted(desired["roles"].items())]}
        representation["groups"] = [{"name": name, "realmRoles": list(group["realmRoles"])}
                                    for name, group in sorted(desired["groups"].items())]
        representation["clients"] = [_client_representation(desired["clients"][client_id]) for client_id in sorted(desired["clients"])]
        representation["users"] = [
            _user_representation(view, passwords.get(username), _user_groups(desired, username))
            for username, view in sorted(desired["users"].items())]
        return representation

    def _converge(self, spec: TenantSpec, snapshot: Snapshot, desired: dict, writer: _Writer) -> None:
        realm = spec.name
        client = self.client

        changes = {key: value for key, value in desired["realm"].items() if snapshot.realm.get(key) != value}
        if changes:
            writer.write(f"update realm settings {', '.join(sorted(changes))}", client.update_realm, realm, changes)

        role_ids = {name: role.get("id") for name, role in snapshot.roles.items()}
        for name, want in desired["roles"].items():
            have = snapshot.roles.get(name)
            if have is None:
                writer.write(f"create realm role {name}", client.create_realm_role, realm, {"name": name, **want})
                role_ids[name] = None
            elif have.get("description") != want["description"] or bool(have.get("composite")) != want["composite"]:
                writer.write(f"update realm role {name}", client.update_realm_role, realm, name,
                             {**_without_read_only(have), "name": name, "description": want["description"]})

        for client_id, want in desired["clients"].items():
            self._converge_client(realm, client_id, want, snapshot.clients.get(client_id), writer)

        group_ids = {}
        for name, want in desired["groups"].items():
            have = snapshot.groups.get(name)
            group_ids[name] = have["id"] if have else writer.write(f"create group {name}", client.create_group,
                                                                   realm, {"name": name})
            have_roles = set((have or {}).get("realmRoles") or [])
            missing = sorted(set(want["realmRoles"]) - have_roles)
            extra = sorted(have_roles - set(want["realmRoles"]))
            if missing:
                roles = [self._role_reference(realm, role, role_ids, writer) for role in missing]
                writer.write(f"grant group {name} realm roles {', '.join(missing)}", client.add_group_realm_roles,
                             realm, group_ids[name], roles)
            if extra:
                roles = [{"id": role_ids.get(role), "name": role} for role in extra]
                writer.write(f"revoke realm roles {', '.join(extra)} from group {name}", client.remove_group_realm_roles,
                             realm, group_ids[name], roles)

        user_ids = {}
        joined = set()
        passwords = {user.username: user.password for user in spec.users}
        for username, want in desired["users"].items():
            have = snapshot.users.get(username)
            if have is None:
                groups = _user_groups(desired, username)
                user_ids[username] = writer.write(
                    f"create user {username}" + (f" in {', '.join(groups)}" if groups else ""), client.create_user, realm,
                    _user_representation(want, passwords.get(username), groups))
                joined.update((username, group) for group in groups)
                continue
            user_ids[username] = have["id"]
            changed_fields = sorted(key for key, value in want.items() if have.get(key) != value)
            if changed_fields:
                writer.write(f"update user {username} ({', '.join(changed_fields)})", client.update_user, realm,
                             have["id"], {**_without_read_only(have), **want})
            if passwords.get(username) and spec.update_password == "always":
                writer.write(f"reset the password of user {username}", client.reset_password, realm, have["id"],
                             passwords[username])

        for name, want in desired["groups"].items():
            members = {user["username"]: user["id"] for user in snapshot.members.get(name, [])}
            for username in want["members"]:
                if username not in members and (username, name) not in joined:
                    writer.write(f"add user {username} to group {name}", client.add_user_to_group, realm,
                                 user_ids[username], group_ids[name])
            for username in sorted(set(members) - set(want["members"])):
                writer.write(f"remove user {username} from group {name}", client.remove_user_from_group, realm,
                             members[username], group_ids[name])

    def _converge_client(self, realm: str, client_id: str, want: dict, have: dict | None, writer: _Writer) -> None:
        client = self.client
        if have is None:
            writer.write(f"create client {client_id} with mappers {', '.join(sorted(want['protocolMappers']))}",
                         client.create_client, realm, _client_representation(want))
            return
        fields = {key: value for key, value in want.items() if key != "protocolMappers"}
        changed_fields = sorted(key for key, value in fields.items() if normalise(have.get(key)) != normalise(value))
        if changed_fields:
            body = {key: value for key, value in _without_read_only(have).items() if key != "protocolMappers"}
            body.update(copy.deepcopy(fields))
            writer.write(f"update client {client_id} ({', '.join(changed_fields)})", client.update_client, realm,
                         have["id"], body)
        by_name = {mapper.get("name"): mapper for mapper in have.get("protocolMappers") or []}
        for mapper_name, want_mapper in sorted(want["protocolMappers"].items()):
            have_mapper = by_name.get(mapper_name)
            if have_mapper is None:
                writer.write(f"create mapper {mapper_name} on client {client_id}", client.create_protocol_mapper, realm,
                             have["id"], {"name": mapper_name, **copy.deepcopy(want_mapper)})
                continue
            config = have_mapper.get("config") or {}
            drift = any(config.get(key) != value for key, value in want_mapper["config"].items()) or any(
                have_mapper.get(key) != want_mapper[key] for key in ("protocol", "protocolMapper"))
            if drift:
                body = {**have_mapper, "protocol": want_mapper["protocol"], "protocolMapper": want_mapper["protocolMapper"],
                        "config": {**config, **want_mapper["config"]}}
                writer.write(f"update mapper {mapper_name} on client {client_id}", client.update_protocol_mapper, realm,
                             have["id"], have_mapper["id"], body)

    def _role_reference(self, realm: str, name: str, role_ids: dict, writer: _Writer) -> dict:
        """{id, name} of a realm role; a role created in this run is read back for its id (not in check mode)."""
        if role_ids.get(name) is None and not writer.check_mode:
            role = self.client.get_realm_role(realm, name)
            role_ids[name] = role.get("id") if role else None
        return {"id": role_ids.get(name) or PLACEHOLDER_ID, "name": name}

    # ------------------------------------------------------------------ results
    @staticmethod
    def _endpoints(spec: TenantSpec, urls: tuple, exists_after: bool) -> dict:
        """What the gateway and Istio layers need. ``urls`` (issuer, key set) come from Keycloak's discovery
        document when the realm exists (they follow Keycloak's hostname setting), otherwise from auth_keycloak_url."""
        issuer, jwks = urls
        return {
            "name": spec.name,
            "exists": exists_after,
            "issuer_url": issuer,
            "jwks_url": jwks,
            "gateway_client_id": spec.gateway_client_id,
            "grafana_client_id": spec.grafana_client_id,
            "audience": spec.gateway_client_id,
            "tenant_claim": TENANT_CLAIM,
            "groups_claim": GROUPS_CLAIM,
            "groups": dict(spec.groups),
            "roles": dict(spec.roles),
        }

    def _secrets(self, spec: TenantSpec, snapshot: Snapshot, writer: _Writer) -> dict:
        """Client secrets, read after the writes; absent in check mode for clients that do not exist yet."""
        clients = snapshot.clients
        created = snapshot.realm is None or any(client_id not in clients for client_id in
                                                (spec.gateway_client_id, spec.grafana_client_id))
        if created and not writer.check_mode:
            clients = {client["clientId"]: client for client in self.client.list_clients(spec.name)}
        secrets = {}
        for option, client_id in (("gateway_client_secret", spec.gateway_client_id),
                                  ("grafana_client_secret", spec.grafana_client_id)):
            secret = (clients.get(client_id) or {}).get("secret")
            if secret:
                secrets[option] = secret
        return secrets

    # ------------------------------------------------------------------ describing
    def describe(self, name: str) -> dict:
        """The realm as it is: settings, non-built-in clients with their mappers, roles and groups; secrets masked."""
        realm = self.client.get_realm(name)
        if realm is None:
            return {"name": name, "exists": False}
        settings = {key: value for key, value in sorted(realm.items())
                    if key != "id" and isinstance(value, (str, int, float, bool))}
        clients = []
        for client in sorted(self.client.list_clients(name), key=lambda item: item["clientId"]):
            if client["clientId"] in BUILTIN_CLIENTS:
                continue
            entry = {key: normalise(client.get(key)) for key in INFO_CLIENT_FIELDS if key in client}
            if client.get("secret"):
                entry["secret"] = PASSWORD_MASK
            entry["protocolMappers"] = sorted(
                ({"name": mapper.get("name"), "protocol": mapper.get("protocol"),
                  "protocolMapper": mapper.get("protocolMapper"), "config": dict(sorted((mapper.get("config") or {}).items()))}
                 for mapper in client.get("protocolMappers") or []), key=lambda mapper: mapper["name"])
            clients.append(entry)
        roles = sorted(({"name": role["name"], "description": role.get("description"), "composite": bool(role.get("composite"))}
                        for role in self.client.list_realm_roles(name)
                        if role["name"] not in BUILTIN_ROLES and not role["name"].startswith(BUILTIN_ROLE_PREFIX)),
                       key=lambda role: role["name"])
        groups = []
        for group in sorted(self.client.list_groups(name), key=lambda item: item["name"]):
            members = self.client.group_members(name, group["id"])
            groups.append({"name": group["name"], "path": group.get("path"),
                           "realmRoles": sorted(group.get("realmRoles") or []),
                           "members": sorted(user["username"] for user in members)})
        discovery = self.client.get_discovery(name) or {}
        issuer = discovery.get("issuer", f"{self.client.base_url}/realms/{name}")
        return {"name": name, "exists": True, "realm": settings, "clients": clients, "roles": roles, "groups": groups,
                "issuer_url": issuer, "jwks_url": discovery.get("jwks_uri", f"{issuer}/protocol/openid-connect/certs")}
