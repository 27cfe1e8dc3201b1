# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a tenant's realm must contain, validated and rendered as a normalised "view".

``TenantSpec.from_params`` checks the module parameters (collecting every problem,
so one run reports them all) before anything talks to Keycloak. ``desired_view``
renders the spec as the same normalised shape ``project`` cuts out of what
Keycloak returns: only the fields this collection manages, lists sorted, server
ids and secrets left out. Two views are equal exactly when nothing has to be sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import tenant_name_problem
from ansible_collections.meridian.observability.plugins.module_utils._topology.model import EMAIL_OR_USER

from .errors import KeycloakInvalidInput

PASSWORD_MASK = "********"
TENANT_CLAIM = "tenant"
GROUPS_CLAIM = "groups"
OIDC = "openid-connect"
# Clients Keycloak creates in every realm; a tenant client may not take these ids.
BUILTIN_CLIENTS = frozenset({"account", "account-console", "admin-cli", "broker", "realm-management",
                             "security-admin-console"})
GROUP_KINDS = ("owners", "viewers")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URI = re.compile(r"^https?://[^\s]+$")
MAX_DISPLAY_NAME = 255
# Keycloak's default user profile rejects shorter user names.
MIN_USERNAME = 3

BRUTE_FORCE_FIELDS = {
    # option -> realm representation field
    "enabled": "bruteForceProtected",
    "permanent_lockout": "permanentLockout",
    "failure_factor": "failureFactor",
    "wait_increment_seconds": "waitIncrementSeconds",
    "max_failure_wait_seconds": "maxFailureWaitSeconds",
    "minimum_quick_login_wait_seconds": "minimumQuickLoginWaitSeconds",
    "quick_login_check_milliseconds": "quickLoginCheckMilliSeconds",
    "max_delta_time_seconds": "maxDeltaTimeSeconds",
}
# Keycloak's own defaults, except that protection is on.
BRUTE_FORCE_DEFAULTS = {
    "enabled": True,
    "permanent_lockout": False,
    "failure_factor": 30,
    "wait_increment_seconds": 60,
    "max_failure_wait_seconds": 900,
    "minimum_quick_login_wait_seconds": 60,
    "quick_login_check_milliseconds": 1000,
    "max_delta_time_seconds": 43200,
}
LIFESPAN_FIELDS = {
    "access_token_lifespan": "accessTokenLifespan",
    "sso_session_idle_timeout": "ssoSessionIdleTimeout",
    "sso_session_max_lifespan": "ssoSessionMaxLifespan",
}
LIFESPAN_DEFAULTS = {"access_token_lifespan": 300, "sso_session_idle_timeout": 1800, "sso_session_max_lifespan": 36000}
USER_FIELDS = {
    # option -> user representation field; None options are left as they are on the server
    "email": "email",
    "first_name": "firstName",
    "last_name": "lastName",
    "enabled": "enabled",
    "email_verified": "emailVerified",
}


def owners_group(tenant: str) -> str:
    """Group whose members own the tenant (read and write)."""
    return f"{tenant}-owners"


def viewers_group(tenant: str) -> str:
    """Group whose members may read the tenant's data."""
    return f"{tenant}-viewers"


def owner_role(tenant: str) -> str:
    """Realm role the owners group grants."""
    return f"{tenant}-owner"


def viewer_role(tenant: str) -> str:
    """Realm role the viewers group grants."""
    return f"{tenant}-viewer"


@dataclass(frozen=True)
class UserSpec:
    """One realm user the tenant declares."""

    username: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    enabled: bool | None = True
    email_verified: bool | None = None
    password: str | None = None
    groups: tuple = ()


@dataclass(frozen=True)
class TenantSpec:
    """A validated tenant: everything its realm must contain."""

    name: str
    display_name: str
    gateway_client_id: str = "observability-gateway"
    grafana_client_id: str = "grafana"
    redirect_uris: tuple = ()
    ssl_required: str = "external"
    lifespans: dict = field(default_factory=lambda: dict(LIFESPAN_DEFAULTS))
    brute_force: dict = field(default_factory=lambda: dict(BRUTE_FORCE_DEFAULTS))
    owners: tuple = ()
    viewers: tuple = ()
    users: tuple = ()
    update_password: str = "on_create"

    @classmethod
    def from_params(cls, params: dict) -> "TenantSpec":
        """Validate module parameters; raises KeycloakInvalidInput naming every problem and its fix."""
        problems: list[str] = []
        name = params.get("name")
        name_problem = tenant_name_problem(name)
        if name_problem:
            problems.append(f"name: {name_problem}")
        name = name if isinstance(name, str) else ""

        display_name = params.get("display_name") or name
        if len(display_name) > MAX_DISPLAY_NAME:
            problems.append(f"display_name: is {len(display_name)} characters; at most {MAX_DISPLAY_NAME} are allowed.")

        gateway = params.get("gateway_client_id") or "observability-gateway"
        grafana = params.get("grafana_client_id") or "grafana"
        for option, client_id in (("gateway_client_id", gateway), ("grafana_client_id", grafana)):
            if client_id in BUILTIN_CLIENTS:
                problems.append(f"{option}: {client_id!r} is a client Keycloak creates in every realm. Fix: choose another id.")
            elif not re.match(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", client_id):
                problems.append(f"{option}: {client_id!r} is not a usable client id. "
                                "Fix: use letters, digits, '.', '_', ':' and '-'.")
        if gateway == grafana:
            problems.append(f"grafana_client_id: equals gateway_client_id ({gateway!r}). Fix: give the two clients different ids.")

        redirect_uris = params.get("redirect_uris") or []
        for position, uri in enumerate(redirect_uris):
            if not isinstance(uri, str) or not URI.match(uri):
                problems.append(f"redirect_uris[{position}]: {uri!r} is not an absolute http(s) URL. "
                                "Fix: write it like https://grafana.example.com/login/generic_oauth.")

        lifespans = {}
        for option, default in LIFESPAN_DEFAULTS.items():
            value = params.get(option)
            value = default if value is None else value
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.append(f"{option}: {value!r} must be a positive number of seconds.")
            lifespans[option] = value
        if all(isinstance(value, int) for value in lifespans.values()) and \
                lifespans["sso_session_idle_timeout"] > lifespans["sso_session_max_lifespan"]:
            problems.append("sso_session_idle_timeout: is longer than sso_session_max_lifespan. "
                            "Fix: make the idle timeout at most the maximum session lifespan.")

        brute_force = dict(BRUTE_FORCE_DEFAULTS)
        given_brute_force = params.get("brute_force_protection") or {}
        brute_force.update({key: value for key, value in given_brute_force.items() if value is not None})
        unknown = sorted(set(brute_force) - set(BRUTE_FORCE_DEFAULTS))
        if unknown:
            problems.append(f"brute_force_protection: unknown settings {', '.join(unknown)}. "
                            f"Fix: use {', '.join(sorted(BRUTE_FORCE_DEFAULTS))}.")
        for key, value in brute_force.items():
            if key in ("enabled", "permanent_lockout"):
                if not isinstance(value, bool):
                    problems.append(f"brute_force_protection.{key}: {value!r} must be true or false.")
            elif key in BRUTE_FORCE_DEFAULTS and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                problems.append(f"brute_force_protection.{key}: {value!r} must be a positive integer.")

        people = {}
        for kind in GROUP_KINDS:
            listed = params.get(kind) or []
            if not isinstance(listed, (list, tuple)):
                problems.append(f"{kind}: expected a list of user names or e-mail addresses, got {listed!r}.")
                listed = []
            clean = []
            for position, person in enumerate(listed):
                if not isinstance(person, str) or not EMAIL_OR_USER.match(person):
                    problems.append(f"{kind}[{position}]: {person!r} is not a user name or e-mail address. "
                                    "Fix: write the person as name@example.com or a plain user name.")
                elif len(person) < MIN_USERNAME:
                    problems.append(f"{kind}[{position}]: {person!r} is too short; Keycloak needs at least "
                                    f"{MIN_USERNAME} characters.")
                else:
                    clean.append(person.lower())
            people[kind] = tuple(sorted(set(clean)))

        users = []
        seen = set()
        for position, entry in enumerate(params.get("users") or []):
            user, user_problems = _user_from_params(position, entry)
            problems.extend(user_problems)
            if user is None:
                continue
            if user.username in seen:
                problems.append(f"users[{position}].username: {user.username!r} is listed twice. Fix: list each user once.")
            seen.add(user.username)
            users.append(user)

        update_password = params.get("update_password") or "on_create"
        if update_password not in ("on_create", "always"):
            problems.append(f"update_password: {update_password!r} is not one of on_create, always.")
        ssl_required = params.get("ssl_required") or "external"
        if ssl_required not in ("external", "all", "none"):
            problems.append(f"ssl_required: {ssl_required!r} is not one of external, all, none.")

        if problems:
            raise KeycloakInvalidInput("invalid tenant: " + " ".join(problems), problems=problems)
        return cls(name=name, display_name=display_name, gateway_client_id=gateway, grafana_client_id=grafana,
                   redirect_uris=tuple(sorted(set(redirect_uris))), ssl_required=ssl_required, lifespans=lifespans,
                   brute_force=brute_force, owners=people["owners"], viewers=people["viewers"],
                   users=tuple(sorted(users, key=lambda user: user.username)), update_password=update_password)

    # ------------------------------------------------------------------ derived names
    @property
    def groups(self) -> dict:
        """Managed group name by kind (owners, viewers)."""
        return {"owners": owners_group(self.name), "viewers": viewers_group(self.name)}

    @property
    def roles(self) -> dict:
        """Managed realm role name by kind (owner, viewer)."""
        return {"owner": owner_role(self.name), "viewer": viewer_role(self.name)}

    def members(self, kind: str) -> list:
        """User names the group of this kind must contain, exactly."""
        listed = set(self.owners if kind == "owners" else self.viewers)
        listed.update(user.username for user in self.users if kind in user.groups)
        return sorted(listed)


@dataclass(frozen=True)
class TenantRequest:
    """One entry of a batch: the tenant, whether its realm must exist, and whether a realm not made by this
    collection may be taken over (``adopt``)."""

    spec: TenantSpec
    state: str = "present"
    adopt: bool = False


def requests_from_params(entries) -> list:
    """Validate every entry of keycloak_tenants' ``tenants`` before anything is sent; raises KeycloakInvalidInput
    naming each problem by its position (``tenants[3].name: ...``), duplicates included."""
    problems: list[str] = []
    requests = []
    first_position = {}
    for position, entry in enumerate(entries or []):
        where = f"tenants[{position}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping with at least a name, got {entry!r}.")
            continue
        try:
            spec = TenantSpec.from_params(entry)
        except KeycloakInvalidInput as err:
            problems.extend(f"{where}.{problem}" for problem in err.details["problems"])
            continue
        if spec.name in first_position:
            problems.append(f"{where}.name: {spec.name!r} is listed twice (also tenants[{first_position[spec.name]}]). "
                            "Fix: list each tenant once.")
            continue
        first_position[spec.name] = position
        requests.append(TenantRequest(spec=spec, state=entry.get("state") or "present", adopt=bool(entry.get("adopt"))))
    if problems:
        raise KeycloakInvalidInput("invalid tenants: " + " ".join(problems), problems=problems)
    return requests


def _user_from_params(position: int, entry) -> tuple[UserSpec | None, list[str]]:
    where = f"users[{position}]"
    if not isinstance(entry, dict):
        return None, [f"{where}: expected a mapping with at least a username, got {entry!r}."]
    problems = []
    username = entry.get("username")
    if not isinstance(username, str) or not EMAIL_OR_USER.match(username):
        problems.append(f"{where}.username: {username!r} is not a user name. "
                        "Fix: use letters, digits and . _ % + - (or an e-mail address).")
        username = ""
    elif len(username) < MIN_USERNAME:
        problems.append(f"{where}.username: {username!r} is too short; Keycloak needs at least {MIN_USERNAME} characters.")
    email = entry.get("email")
    if email is not None and (not isinstance(email, str) or not EMAIL.match(email)):
        problems.append(f"{where}.email: {email!r} is not an e-mail address.")
    groups = entry.get("groups") or []
    for group_position, kind in enumerate(groups):
        if kind not in GROUP_KINDS:
            problems.append(f"{where}.groups[{group_position}]: {kind!r} is not one of {', '.join(GROUP_KINDS)}.")
    password = entry.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        problems.append(f"{where}.password: must be a non-empty string.")
    for option in ("first_name", "last_name"):
        value = entry.get(option)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_DISPLAY_NAME):
            problems.append(f"{where}.{option}: must be a string of at most {MAX_DISPLAY_NAME} characters.")
    if problems:
        return None, problems
    return UserSpec(username=username.lower(), email=email.lower() if email else None,
                    first_name=entry.get("first_name"), last_name=entry.get("last_name"),
                    enabled=entry.get("enabled", True), email_verified=entry.get("email_verified"),
                    password=password, groups=tuple(sorted(set(groups)))), []


# ---------------------------------------------------------------------- views
def tenant_mappers(spec: TenantSpec) -> dict:
    """Protocol mappers both tenant clients carry, by name."""
    claim_everywhere = {"access.token.claim": "true", "id.token.claim": "true", "userinfo.token.claim": "true",
                        "introspection.token.claim": "true"}
    return {
        "tenant": {"protocol": OIDC, "protocolMapper": "oidc-hardcoded-claim-mapper",
                   "config": {"claim.name": TENANT_CLAIM, "claim.value": spec.name, "jsonType.label": "String",
                              **claim_everywhere}},
        "gateway-audience": {"protocol": OIDC, "protocolMapper": "oidc-audience-mapper",
                             "config": {"included.client.audience": spec.gateway_client_id, "access.token.claim": "true",
                                        "id.token.claim": "false", "introspection.token.claim": "true"}},
        "groups": {"protocol": OIDC, "protocolMapper": "oidc-group-membership-mapper",
                   "config": {"claim.name": GROUPS_CLAIM, "full.path": "false", **claim_everywhere}},
    }


def _client_view(spec: TenantSpec, gateway: bool) -> dict:
    common = {"enabled": True, "protocol": OIDC, "publicClient": False, "bearerOnly": False,
              "clientAuthenticatorType": "client-secret", "implicitFlowEnabled": False,
              "directAccessGrantsEnabled": False, "protocolMappers": tenant_mappers(spec)}
    if gateway:
        return {**common, "clientId": spec.gateway_client_id, "name": "Observability gateway",
                "description": f"Tenant {spec.name}: machine clients (client credentials) and the gateway audience.",
                "standardFlowEnabled": False, "serviceAccountsEnabled": True, "redirectUris": [], "webOrigins": []}
    return {**common, "clientId": spec.grafana_client_id, "name": "Grafana",
            "description": f"Tenant {spec.name}: Grafana single sign-on.",
            "standardFlowEnabled": True, "serviceAccountsEnabled": False,
            "redirectUris": sorted(spec.redirect_uris), "webOrigins": ["+"] if spec.redirect_uris else []}


def user_view(user: UserSpec) -> dict:
    """Managed fields of one user; options left unset are not managed."""
    view = {"username": user.username}
    for option, key in USER_FIELDS.items():
        value = getattr(user, option)
        if value is not None:
            view[key] = value
    return view


def declared_users(spec: TenantSpec) -> dict:
    """Every user the tenant needs, by user name: the ``users`` entries plus owners and viewers not listed there."""
    users = {user.username: user for user in spec.users}
    for person in sorted(set(spec.owners) | set(spec.viewers)):
        if person not in users:
            users[person] = UserSpec(username=person, email=person if EMAIL.match(person) else None)
    return users


def desired_view(spec: TenantSpec) -> dict:
    """The normalised state the realm must reach."""
    realm = {"realm": spec.name, "enabled": True, "displayName": spec.display_name, "sslRequired": spec.ssl_required}
    realm.update({LIFESPAN_FIELDS[option]: value for option, value in spec.lifespans.items()})
    realm.update({BRUTE_FORCE_FIELDS[option]: value for option, value in spec.brute_force.items()})
    return {
        "realm": realm,
        "clients": {spec.gateway_client_id: _client_view(spec, gateway=True),
                    spec.grafana_client_id: _client_view(spec, gateway=False)},
        "roles": {
            spec.roles["owner"]: {"description": f"Owns tenant {spec.name}: reads and writes its data.", "composite": False},
            spec.roles["viewer"]: {"description": f"Reads tenant {spec.name}'s data.", "composite": False},
        },
        "groups": {
            spec.groups["owners"]: {"realmRoles": [spec.roles["owner"]], "members": spec.members("owners")},
            spec.groups["viewers"]: {"realmRoles": [spec.roles["viewer"]], "members": spec.members("viewers")},
        },
        "users": {username: user_view(user) for username, user in sorted(declared_users(spec).items())},
    }


def normalise(value):
    """Lists sorted (order never matters in the managed fields), everything else as is."""
    if isinstance(value, list):
        return sorted(value, key=str)
    return value


@dataclass
class Snapshot:
    """What Keycloak holds for a tenant, as returned by the admin API (only the parts this collection reads)."""

    realm: dict | None
    clients: dict = field(default_factory=dict)   # clientId -> representation
    roles: dict = field(default_factory=dict)     # name -> representation
    groups: dict = field(default_factory=dict)    # name -> representation
    members: dict = field(default_factory=dict)   # group name -> [user representation]
    users: dict = field(default_factory=dict)     # user name -> representation or None


def project(snapshot: Snapshot, desired: dict) -> dict:
    """Cut the managed fields out of ``snapshot`` in the shape of ``desired``; objects missing on the server are left out."""
    if snapshot.realm is None:
        return {}
    view = {"realm": {key: snapshot.realm.get(key) for key in desired["realm"]},
            "clients": {}, "roles": {}, "groups": {}, "users": {}}
    for client_id, want in desired["clients"].items():
        have = snapshot.clients.get(client_id)
        if have is None:
            continue
        client = {key: normalise(have.get(key)) for key in want if key != "protocolMappers"}
        by_name = {mapper.get("name"): mapper for mapper in have.get("protocolMappers") or []}
        client["protocolMappers"] = {}
        for mapper_name, want_mapper in want["protocolMappers"].items():
            have_mapper = by_name.get(mapper_name)
            if have_mapper is not None:
                config = have_mapper.get("config") or {}
                client["protocolMappers"][mapper_name] = {
                    "protocol": have_mapper.get("protocol"), "protocolMapper": have_mapper.get("protocolMapper"),
                    "config": {key: config.get(key) for key in want_mapper["config"]}}
        view["clients"][client_id] = client
    for role_name in desired["roles"]:
        have = snapshot.roles.get(role_name)
        if have is not None:
            view["roles"][role_name] = {"description": have.get("description"), "composite": bool(have.get("composite"))}
    for group_name in desired["groups"]:
        have = snapshot.groups.get(group_name)
        if have is not None:
            view["groups"][group_name] = {
                "realmRoles": sorted(have.get("realmRoles") or []),
                "members": sorted(user["username"] for user in snapshot.members.get(group_name, []))}
    for username, want in desired["users"].items():
        have = snapshot.users.get(username)
        if have is not None:
            view["users"][username] = {key: have.get(key) for key in want}
    return view
