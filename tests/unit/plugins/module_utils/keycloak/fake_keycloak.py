"""An in-memory stand-in for KeycloakClient: the same methods, Keycloak's observable behaviour, every call counted.

It mimics what the service relies on and what the real server was seen to do (Keycloak 26.5):
a realm POST imports clients (secret generated), mappers, roles, groups with realm roles and users
with group paths and credentials; a client PUT ignores protocolMappers; GETs return ids, secrets
and "access" fields the service must drop; lists come back in an arbitrary order.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter

WRITE_METHODS = ("POST", "PUT", "DELETE")


class FakeKeycloak:
    base_url = "http://keycloak.test"

    def __init__(self):
        self.realms: dict = {}
        self.viewable_only_briefly: set = set()
        self.request_counts = Counter()
        self.writes: list = []
        self.passwords: dict = {}
        self._ids = itertools.count(1)

    # ---------------------------------------------------------------- helpers
    def _id(self, kind):
        return f"{kind}-{next(self._ids)}"

    def _count(self, method, call):
        self.request_counts[method] += 1
        if method in WRITE_METHODS:
            self.writes.append(call)

    def _realm(self, name):
        return self.realms[name]

    def snapshot(self):
        return copy.deepcopy(self.realms)

    def _add_mapper(self, client, mapper):
        mapper = copy.deepcopy(mapper)
        mapper["id"] = self._id("mapper")
        mapper.setdefault("consentRequired", False)
        client.setdefault("protocolMappers", []).append(mapper)

    def _add_client(self, realm, representation):
        client = copy.deepcopy(representation)
        mappers = client.pop("protocolMappers", [])
        client["id"] = self._id("client")
        client.setdefault("secret", f"secret-of-{client['clientId']}")
        client["access"] = {"view": True}
        client["attributes"] = {"realm_client": "false"}
        client["protocolMappers"] = []
        for mapper in mappers:
            self._add_mapper(client, mapper)
        realm["clients"][client["id"]] = client
        return client["id"]

    def _add_user(self, realm, representation):
        user = copy.deepcopy(representation)
        credentials = user.pop("credentials", [])
        paths = user.pop("groups", [])
        user["id"] = self._id("user")
        user["username"] = user["username"].lower()
        user.setdefault("enabled", False)
        user.setdefault("emailVerified", False)
        user["access"] = {"manage": True}
        realm["users"][user["id"]] = user
        for credential in credentials:
            self.passwords[(realm["realm"]["realm"], user["username"])] = credential["value"]
        for path in paths:
            group = next(g for g in realm["groups"].values() if "/" + g["name"] == path)
            realm["members"].add((user["id"], group["id"]))
        return user["id"]

    # ---------------------------------------------------------------- realms
    def get_realm(self, name):
        self._count("GET", ("get_realm", name))
        realm = self.realms.get(name)
        return None if realm is None else {**copy.deepcopy(realm["realm"]), "id": "realm-id", "notBefore": 0}

    def list_realms(self):
        """Like Keycloak's list: full representations, brief ones (name only) for realms in ``viewable_only_briefly``."""
        self._count("GET", ("list_realms",))
        return [{"realm": name, "id": "realm-id"} if name in self.viewable_only_briefly
                else {**copy.deepcopy(realm["realm"]), "id": "realm-id", "notBefore": 0}
                for name, realm in self.realms.items()]

    def create_realm(self, representation):
        """The realm POST: realm settings plus every nested part, like Keycloak's import."""
        self._count("POST", ("create_realm", representation["realm"]))
        representation = copy.deepcopy(representation)
        name = representation["realm"]
        realm = {"realm": {"accessTokenLifespan": 300, "sslRequired": "external", "bruteForceProtected": False,
                           "defaultSignatureAlgorithm": "RS256", "realm": name},
                 "clients": {}, "roles": {}, "groups": {}, "users": {}, "members": set()}
        self.realms[name] = realm
        for builtin in ("account", "admin-cli", "broker", "realm-management"):
            self._add_client(realm, {"clientId": builtin, "publicClient": builtin == "admin-cli"})
        for role in (f"default-roles-{name}", "offline_access", "uma_authorization"):
            realm["roles"][role] = {"id": self._id("role"), "name": role, "composite": role.startswith("default"),
                                    "description": "${role}"}
        for role in representation.pop("roles", {}).get("realm", []):
            realm["roles"][role["name"]] = {**role, "id": self._id("role"), "clientRole": False}
        for group in representation.pop("groups", []):
            group_id = self._id("group")
            realm["groups"][group_id] = {"id": group_id, "name": group["name"], "path": "/" + group["name"],
                                         "realmRoles": list(group.get("realmRoles", [])), "subGroupCount": 0}
        for client in representation.pop("clients", []):
            self._add_client(realm, client)
        for user in representation.pop("users", []):
            self._add_user(realm, user)
        realm["realm"].update(representation)

    def update_realm(self, name, changes):
        self._count("PUT", ("update_realm", name, tuple(sorted(changes))))
        self._realm(name)["realm"].update(copy.deepcopy(changes))

    def delete_realm(self, name):
        self._count("DELETE", ("delete_realm", name))
        self.realms.pop(name, None)

    def get_discovery(self, name):
        self._count("GET", ("discovery", name))
        if name not in self.realms:
            return None
        issuer = f"{self.base_url}/realms/{name}"
        return {"issuer": issuer, "jwks_uri": f"{issuer}/protocol/openid-connect/certs"}

    # ---------------------------------------------------------------- clients
    def list_clients(self, name):
        self._count("GET", ("list_clients", name))
        return list(reversed(copy.deepcopy(list(self._realm(name)["clients"].values()))))

    def create_client(self, name, representation):
        self._count("POST", ("create_client", representation["clientId"]))
        return self._add_client(self._realm(name), representation)

    def update_client(self, name, client_uuid, representation):
        self._count("PUT", ("update_client", client_uuid))
        client = self._realm(name)["clients"][client_uuid]
        mappers = client["protocolMappers"]
        client.update({k: copy.deepcopy(v) for k, v in representation.items() if k != "protocolMappers"})
        client["protocolMappers"] = mappers  # Keycloak ignores mappers in a client PUT

    def create_protocol_mapper(self, name, client_uuid, representation):
        self._count("POST", ("create_mapper", client_uuid, representation["name"]))
        self._add_mapper(self._realm(name)["clients"][client_uuid], representation)

    def update_protocol_mapper(self, name, client_uuid, mapper_id, representation):
        self._count("PUT", ("update_mapper", client_uuid, mapper_id))
        mappers = self._realm(name)["clients"][client_uuid]["protocolMappers"]
        position = next(i for i, mapper in enumerate(mappers) if mapper["id"] == mapper_id)
        assert representation["id"] == mapper_id
        mappers[position] = copy.deepcopy(representation)

    # ---------------------------------------------------------------- roles
    def list_realm_roles(self, name):
        self._count("GET", ("list_roles", name))
        return copy.deepcopy(list(self._realm(name)["roles"].values()))

    def get_realm_role(self, name, role):
        self._count("GET", ("get_role", role))
        return copy.deepcopy(self._realm(name)["roles"].get(role))

    def create_realm_role(self, name, representation):
        self._count("POST", ("create_role", representation["name"]))
        self._realm(name)["roles"][representation["name"]] = {**copy.deepcopy(representation), "id": self._id("role")}

    def update_realm_role(self, name, role, representation):
        self._count("PUT", ("update_role", role))
        self._realm(name)["roles"][role].update(copy.deepcopy(representation))

    # ---------------------------------------------------------------- groups
    def list_groups(self, name):
        self._count("GET", ("list_groups", name))
        return copy.deepcopy(list(self._realm(name)["groups"].values()))

    def create_group(self, name, representation):
        self._count("POST", ("create_group", representation["name"]))
        group_id = self._id("group")
        self._realm(name)["groups"][group_id] = {"id": group_id, "name": representation["name"],
                                                 "path": "/" + representation["name"], "realmRoles": []}
        return group_id

    def group_members(self, name, group_id):
        self._count("GET", ("members", group_id))
        realm = self._realm(name)
        return [copy.deepcopy(realm["users"][user_id]) for user_id, member_of in sorted(realm["members"])
                if member_of == group_id]

    def add_group_realm_roles(self, name, group_id, roles):
        self._count("POST", ("grant", group_id, tuple(role["name"] for role in roles)))
        realm = self._realm(name)
        for role in roles:
            assert realm["roles"][role["name"]]["id"] == role["id"], "role references need the role's id"
            realm["groups"][group_id]["realmRoles"].append(role["name"])

    def remove_group_realm_roles(self, name, group_id, roles):
        self._count("DELETE", ("revoke", group_id, tuple(role["name"] for role in roles)))
        group = self._realm(name)["groups"][group_id]
        group["realmRoles"] = [role for role in group["realmRoles"] if role not in {r["name"] for r in roles}]

    # ---------------------------------------------------------------- users
    def find_user(self, name, username):
        self._count("GET", ("find_user", username))
        return next((copy.deepcopy(user) for user in self._realm(name)["users"].values() if user["username"] == username), None)

    def create_user(self, name, representation):
        self._count("POST", ("create_user", representation["username"]))
        return self._add_user(self._realm(name), representation)

    def update_user(self, name, user_id, representation):
        self._count("PUT", ("update_user", user_id))
        assert "access" not in representation and "credentials" not in representation
        self._realm(name)["users"][user_id].update(copy.deepcopy(representation))

    def reset_password(self, name, user_id, password):
        self._count("PUT", ("reset_password", user_id))
        user = self._realm(name)["users"][user_id]
        self.passwords[(name, user["username"])] = password

    def add_user_to_group(self, name, user_id, group_id):
        self._count("PUT", ("join", user_id, group_id))
        self._realm(name)["members"].add((user_id, group_id))

    def remove_user_from_group(self, name, user_id, group_id):
        self._count("DELETE", ("leave", user_id, group_id))
        self._realm(name)["members"].discard((user_id, group_id))
