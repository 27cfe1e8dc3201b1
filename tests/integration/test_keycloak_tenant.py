"""keycloak_tenant and keycloak_tenant_info against the lab's real Keycloak.

Every module runs as Ansible runs it: a generated one-task playbook with the credentials set once through
``module_defaults: group/meridian.observability.keycloak`` (the admin password comes from the environment,
never the command line), run by ansible-playbook through tests/support/ansible.py. The tests read the server
back through the admin REST API themselves, so a module that only claims to have done something fails them.
"""

from __future__ import annotations

import pathlib
import uuid

import jwt
import pytest
import requests

from tests.support.ansible import run_tasks
from tests.support.keycloak import KeycloakAdmin

pytestmark = pytest.mark.lab

TIMEOUT = 30
PASSWORD_ENV = "IT_KEYCLOAK_ADMIN_PASSWORD"
USER_PASSWORD = "It-user-" + uuid.uuid4().hex  # must never show up in any output


Admin = KeycloakAdmin


@pytest.fixture(scope="module")
def keycloak(lab) -> dict:
    return lab["keycloak"]


@pytest.fixture(scope="module")
def admin(keycloak) -> Admin:
    return Admin(keycloak)


@pytest.fixture
def tenants(admin):
    """Factory for unique tenant names; every realm it named is deleted afterwards, whatever happened."""
    names = []

    def make(label: str) -> str:
        names.append(f"it-{label}-{uuid.uuid4().hex[:8]}")
        return names[-1]

    yield make
    for name in names:
        admin.delete_realm(name)


def play(tmp_path: pathlib.Path, keycloak: dict, args: dict, *, module: str = "keycloak_tenant", check: bool = False,
         diff: bool = False, connection: dict | None = None) -> tuple[dict, str]:
    """Run one task through ansible-playbook; returns (the task's result, the whole stdout)."""
    defaults = {"auth_keycloak_url": keycloak["url"], "auth_realm": keycloak["admin_realm"],
                "auth_username": keycloak["admin_username"],
                "auth_password": "{{ lookup('ansible.builtin.env', '%s') }}" % PASSWORD_ENV}
    defaults.update(connection or {})
    results, completed = run_tasks(tmp_path, [{"name": "under test", f"meridian.observability.{module}": args}],
                                   module_defaults={"group/meridian.observability.keycloak": defaults},
                                   check=check, diff=diff, env={PASSWORD_ENV: keycloak["admin_password"]}, timeout=180)
    return results[0], completed.stdout + completed.stderr


def ok(result: dict) -> dict:
    assert not result.get("failed"), result.get("msg")
    return result


def writes(result: dict) -> int:
    return sum(count for kind, count in result["api_requests"].items() if kind in ("POST", "PUT", "DELETE"))


def client_credentials_token(keycloak: dict, realm: str, client_id: str, secret: str) -> str:
    response = requests.post(f"{keycloak['url']}/realms/{realm}/protocol/openid-connect/token",
                             data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
                             timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def verify(token: str, jwks_url: str, issuer: str, audience: str) -> dict:
    key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], issuer=issuer, audience=audience)


# ---------------------------------------------------------------- tokens are tenant-scoped

def test_a_tenant_token_carries_its_tenant_and_only_its_realm_keys_verify_it(tmp_path, keycloak, tenants):
    realms = {}
    for label in ("a", "b"):
        name = tenants(label)
        result, _ = play(tmp_path, keycloak, {"name": name, "return_client_secret": True})
        realms[name] = ok(result)
        assert result["changed"] and writes(result) == 1, result["api_requests"]
    (name_a, a), (name_b, b) = realms.items()

    token_a = client_credentials_token(keycloak, name_a, a["gateway_client_id"], a["gateway_client_secret"])
    claims = verify(token_a, a["jwks_url"], a["issuer_url"], a["audience"])
    assert claims["tenant"] == name_a
    assert claims["iss"] == a["issuer_url"] == f"{keycloak['url']}/realms/{name_a}"
    assert a["gateway_client_id"] in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])

    # b's key set does not hold a's signing key, and b's keys do not verify a's signature.
    with pytest.raises(jwt.PyJWKClientError):
        verify(token_a, b["jwks_url"], a["issuer_url"], a["audience"])
    for key in jwt.PyJWKClient(b["jwks_url"], cache_keys=False).get_signing_keys():
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token_a, key.key, algorithms=["RS256"], audience=a["audience"])
    # Nor is a's token acceptable as one of b's, even leaving keys aside.
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(token_a, options={"verify_signature": False, "verify_iss": True}, issuer=b["issuer_url"])

    token_b = client_credentials_token(keycloak, name_b, b["gateway_client_id"], b["gateway_client_secret"])
    assert verify(token_b, b["jwks_url"], b["issuer_url"], b["audience"])["tenant"] == name_b


# ---------------------------------------------------------------- check -> apply -> check -> apply, drift, absent

def test_check_apply_check_apply_then_drift_then_absent(tmp_path, keycloak, admin, tenants):
    name = tenants("cycle")
    args = {"name": name, "display_name": "Integration cycle",
            "redirect_uris": ["https://grafana.it.example.com/login/generic_oauth"],
            "owners": ["ops@it.example.com"], "viewers": ["viewer-it"], "access_token_lifespan": 600,
            "brute_force_protection": {"failure_factor": 10},
            "users": [{"username": "alice-it", "email": "alice@it.example.com", "first_name": "Alice",
                       "last_name": "Liddell", "password": USER_PASSWORD, "groups": ["owners", "viewers"]}]}

    check, out = play(tmp_path, keycloak, args, check=True, diff=True)
    assert ok(check)["changed"] and writes(check) == 0 and admin.realm(name) is None
    assert USER_PASSWORD not in out and check["diff"]["before"] == {}
    applied, out = play(tmp_path, keycloak, args, diff=True)
    assert ok(applied)["changed"] and applied["actions"] == check["actions"] and USER_PASSWORD not in out
    realm = admin.realm(name)
    assert realm["accessTokenLifespan"] == 600 and realm["failureFactor"] == 10 and realm["bruteForceProtected"]
    assert realm["sslRequired"] == "external" and realm["displayName"] == "Integration cycle"

    second_check, _ = play(tmp_path, keycloak, args, check=True, diff=True)
    second, _ = play(tmp_path, keycloak, args, diff=True)
    for result in (second_check, second):
        assert not ok(result)["changed"] and result["actions"] == [] and writes(result) == 0, result["actions"]
        assert result["diff"]["before"] == result["diff"]["after"]
    assert second["end_state"]["groups"][f"{name}-owners"]["members"] == ["alice-it", "ops@it.example.com"]

    # The server agrees with what the module claims.
    groups = {group["name"]: group for group in admin.call("GET", f"/{name}/groups",
                                                           params={"briefRepresentation": "false"}).json()}
    assert groups[f"{name}-viewers"]["realmRoles"] == [f"{name}-viewer"]
    members = admin.call("GET", f"/{name}/groups/{groups[f'{name}-viewers']['id']}/members").json()
    assert sorted(user["username"] for user in members) == ["alice-it", "viewer-it"]

    info, out = play(tmp_path, keycloak, {"name": name}, module="keycloak_tenant_info")
    assert ok(info)["exists"] and not info["changed"]
    assert {client["clientId"] for client in info["clients"]} == {"grafana", "observability-gateway"}
    assert all(client["secret"] == "********" for client in info["clients"])
    secrets_on_server = [client["secret"] for client in admin.call("GET", f"/{name}/clients").json()
                         if client["clientId"] in ("grafana", "observability-gateway")]
    assert len(secrets_on_server) == 2 and not any(secret in out for secret in secrets_on_server)
    mappers = {mapper["name"]: mapper for client in info["clients"] for mapper in client["protocolMappers"]}
    assert mappers["tenant"]["config"]["claim.value"] == name

    # Someone changes things by hand: check mode names the drift without touching it, apply repairs it.
    assert admin.call("PUT", f"/{name}", json={"accessTokenLifespan": 42}).status_code == 204
    drift_check, _ = play(tmp_path, keycloak, args, check=True, diff=True)
    assert ok(drift_check)["changed"] and drift_check["actions"] == ["update realm settings accessTokenLifespan"]
    assert drift_check["diff"]["before"]["realm"]["accessTokenLifespan"] == 42 and writes(drift_check) == 0
    assert admin.realm(name)["accessTokenLifespan"] == 42
    repaired, _ = play(tmp_path, keycloak, args)
    assert ok(repaired)["changed"] and repaired["api_requests"].get("PUT") == 1
    assert admin.realm(name)["accessTokenLifespan"] == 600

    absent = {"name": name, "state": "absent"}
    absent_check, _ = play(tmp_path, keycloak, absent, check=True)
    assert ok(absent_check)["changed"] and admin.realm(name) is not None
    gone, _ = play(tmp_path, keycloak, absent)
    assert ok(gone)["changed"] and admin.realm(name) is None
    again, _ = play(tmp_path, keycloak, absent)
    assert not ok(again)["changed"]
    missing, _ = play(tmp_path, keycloak, {"name": name}, module="keycloak_tenant_info")
    assert ok(missing)["exists"] is False


# ---------------------------------------------------------------- bad input changes nothing

BAD_INPUTS = {
    "uppercase-and-underscore": ({"name": "Bad_Name"}, None, "'Bad_Name' is not a DNS-1123 label"),
    "reserved-prefix": ({"name": "kube-system"}, None, "'kube-system' is reserved for the platform"),
    "reserved-name": ({"name": "master"}, None, "'master' is reserved for the platform"),
    "too-long": ({"name": "t" * 41}, None, "is 41 characters; at most 40 are allowed"),
    "unknown-state": ({"state": "gone"}, None, "value of state must be one of: present, absent, got: gone"),
    "negative-lifespan": ({"access_token_lifespan": -300}, None, "access_token_lifespan: -300 must be a positive"),
    "idle-longer-than-max": ({"sso_session_idle_timeout": 7200, "sso_session_max_lifespan": 3600}, None,
                             "longer than sso_session_max_lifespan"),
    "non-string-owner": ({"owners": [{"team": "ops"}]}, None, "owners[0]: "),
    "user-without-username": ({"users": [{"email": "x@it.example.com"}]}, None, "missing required arguments: username"),
    "unknown-user-group": ({"users": [{"username": "alice-it", "groups": ["admins"]}]}, None, "admins"),
    "zero-failure-factor": ({"brute_force_protection": {"failure_factor": 0}}, None,
                            "brute_force_protection.failure_factor: 0 must be a positive integer"),
    "relative-redirect": ({"redirect_uris": ["grafana.local/cb"]}, None, "redirect_uris[0]: 'grafana.local/cb'"),
    "builtin-client-id": ({"gateway_client_id": "admin-cli"}, None, "'admin-cli' is a client Keycloak creates"),
    "unreachable-server": ({}, {"auth_keycloak_url": "http://127.0.0.1:1", "connection_timeout": 2},
                           "cannot reach Keycloak at http://127.0.0.1:1"),
    "wrong-admin-password": ({}, {"auth_password": "not-the-password"},
                             "rejected the admin credentials of user"),
    "unknown-auth-realm": ({}, {"auth_realm": "no-such-realm"}, "realm 'no-such-realm' (auth_realm) has no token endpoint"),
}


@pytest.fixture(scope="module")
def bad_input_outcomes(tmp_path_factory, keycloak, admin):
    """Every bad-input case, in check mode and for real, as tasks of ONE ansible-playbook process (not two processes
    per case). Yields case -> (check-mode result, real result, realm before, realm after), and the whole output."""
    targets, tasks, before = {}, [], {}
    for case in sorted(BAD_INPUTS):
        overrides, connection, _ = BAD_INPUTS[case]
        args = {"name": f"it-bad-{uuid.uuid4().hex[:8]}", **overrides, **(connection or {})}
        targets[case] = args["name"]
        before[case] = admin.realm(args["name"])  # None, except for the reserved name of an existing realm
        for check in (True, False):
            tasks.append({"name": f"{case} (check mode {check})", "meridian.observability.keycloak_tenant": args,
                          "check_mode": check, "ignore_errors": True})
    results, out = play_tasks(tmp_path_factory.mktemp("bad-inputs"), keycloak, tasks)
    outcomes = {case: (results[2 * number], results[2 * number + 1], before[case], admin.realm(targets[case]))
                for number, case in enumerate(sorted(BAD_INPUTS))}
    yield outcomes, out
    for name in targets.values():
        if name.startswith("it-bad-"):  # never master or another realm a case names on purpose
            admin.delete_realm(name)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_naming_the_cause_and_changes_nothing(bad_input_outcomes, keycloak, case):
    outcomes, out = bad_input_outcomes
    check, real, before, after = outcomes[case]
    message = BAD_INPUTS[case][2]
    for result in (check, real):
        assert result.get("failed") and message in result["msg"], result.get("msg")
    assert keycloak["admin_password"] not in out
    # Other suites share the lab's Keycloak, so only this case's realm is compared, not the realm list.
    assert after == before


def test_an_account_without_admin_rights_is_refused(tmp_path, keycloak, admin, tenants):
    username = f"it-noadmin-{uuid.uuid4().hex[:8]}"
    password = "It-" + uuid.uuid4().hex
    response = admin.call("POST", f"/{keycloak['admin_realm']}/users",
                          json={"username": username, "enabled": True, "email": f"{username}@it.example.com",
                                "firstName": "No", "lastName": "Admin",
                                "credentials": [{"type": "password", "value": password, "temporary": False}]})
    assert response.status_code == 201, response.text
    user_id = response.headers["Location"].rsplit("/", 1)[-1]
    try:
        name = tenants("forbidden")
        result, out = play(tmp_path, keycloak, {"name": name}, connection={
            "auth_username": username, "auth_password": password})
        assert result.get("failed") and "403 Forbidden" in result["msg"], result.get("msg")
        assert result["status"] == 403 and password not in out
        assert admin.realm(name) is None
    finally:
        admin.call("DELETE", f"/{keycloak['admin_realm']}/users/{user_id}")


# ---------------------------------------------------------------- many tenants in one call (keycloak_tenants)

def play_tasks(tmp_path: pathlib.Path, keycloak: dict, tasks: list, *, diff: bool = False) -> tuple[list, str]:
    """Run several tasks in ONE ansible-playbook process (cheaper than a process per step); (results, output).

    A realm create of several tenants can take longer than the default 10 s on a busy two-core machine."""
    defaults = {"auth_keycloak_url": keycloak["url"], "auth_realm": keycloak["admin_realm"],
                "auth_username": keycloak["admin_username"], "connection_timeout": 60,
                "auth_password": "{{ lookup('ansible.builtin.env', '%s') }}" % PASSWORD_ENV}
    results, completed = run_tasks(tmp_path, tasks, module_defaults={"group/meridian.observability.keycloak": defaults},
                                   diff=diff, env={PASSWORD_ENV: keycloak["admin_password"]}, timeout=300)
    return results, completed.stdout + completed.stderr


def batch(tenants: list, **options) -> dict:
    return {"meridian.observability.keycloak_tenants": {"tenants": tenants}, **options}


def member(name: str, people: list[str]) -> dict:
    return {"name": name, "owners": people, "viewers": [f"viewer@{name}.example.com"]}


def test_many_tenants_in_one_call_validate_refuse_predict_create_and_rerun_without_writes(
        tmp_path, keycloak, admin, tenants):
    first, second, squatted = tenants("batch-a"), tenants("batch-b"), tenants("batch-c")
    # Somebody else's realm under a tenant's name: refused unless the entry adopts it.
    assert admin.call("POST", "", json={"realm": squatted, "enabled": True}).status_code == 201
    entries = [member(first, ["ops@a.example.com"]),
               {**member(second, ["ops@b.example.com"]),
                "users": [{"username": "bob-it", "password": USER_PASSWORD, "groups": ["owners"]}]},
               {**member(squatted, ["ops@c.example.com"]), "adopt": True}]
    refused_bad = batch([entries[0], {"name": "Bad_Name"}], ignore_errors=True)
    refused_foreign = batch(entries[:2] + [dict(entries[2], adopt=False)], ignore_errors=True)
    planned = batch(entries, check_mode=True)
    results, out = play_tasks(tmp_path, keycloak, [refused_bad, refused_foreign, planned, batch(entries), batch(entries)],
                              diff=True)
    bad, foreign, check, applied, rerun = results

    # Refused before any request that changes anything, naming the entry; the valid entry next to it was not created.
    assert bad["failed"] and "tenants[1].name: 'Bad_Name' is not a DNS-1123 label" in bad["msg"]
    assert foreign["failed"] and foreign["foreign_realms"] == [squatted] and writes(foreign) == 0
    assert f"realm(s) {squatted} already exist" in foreign["msg"]
    # The twin that must succeed: the same tenants, the foreign realm adopted.
    assert ok(check)["changed"] and writes(check) == 0
    assert check["tenants"][first]["actions"][0].startswith(f"create realm {first}")  # so neither refusal created it
    assert ok(applied)["changed"]
    assert {name: result["actions"] for name, result in applied["tenants"].items()} == \
        {name: result["actions"] for name, result in check["tenants"].items()}
    assert [diff["before_header"] for diff in applied["diff"]] == [
        f"tenant {name}: realm {name} before" for name in (first, second, squatted)]
    assert applied["api_requests"]["token"] == 1

    # Nothing to do: no writes, about six reads per tenant (realm, clients, roles, groups, two member lists) and one
    # discovery document for all of them.
    assert not ok(rerun)["changed"] and writes(rerun) == 0 and rerun["diff"] == []
    assert rerun["api_requests"] == {"token": 1, "GET": 6 * 3 + 1}, rerun["api_requests"]
    assert USER_PASSWORD not in out and keycloak["admin_password"] not in out

    # The server agrees: every realm carries its tenant claim (the adopted one too), with its issuer.
    for name in (first, second, squatted):
        gateway = next(c for c in admin.call("GET", f"/{name}/clients").json() if c["clientId"] == "observability-gateway")
        claim = [m["config"]["claim.value"] for m in gateway["protocolMappers"] if m["name"] == "tenant"]
        assert claim == [name]
        assert rerun["tenants"][name]["issuer_url"] == f"{keycloak['url']}/realms/{name}"
        assert requests.get(rerun["tenants"][name]["jwks_url"], timeout=TIMEOUT).json()["keys"]


def test_a_large_batch_reads_its_realms_in_one_list_and_still_finds_drift_and_new_tenants(
        tmp_path, keycloak, admin, tenants):
    # More than REALM_LIST_MIN_TENANTS (10) tenants: one GET lists the realms instead of one GET per realm.
    names = [tenants(f"list-{number:02d}") for number in range(11)]
    entries = [member(name, [f"ops@{number}.example.com"]) for number, name in enumerate(names)]
    (created, rerun), _ = play_tasks(tmp_path, keycloak, [batch(entries), batch(entries)])
    assert ok(created)["changed"] and ok(rerun)["api_requests"] == {"token": 1, "GET": 1 + 5 * 11 + 1}
    assert not rerun["changed"] and writes(rerun) == 0

    # The list must not hide what a read of each realm would find: a hand-changed realm is repaired, and a tenant
    # whose realm the list does not hold (it does not exist yet) is read alone and created.
    drifted, added = names[4], tenants("list-new")
    assert admin.call("PUT", f"/{drifted}", json={"accessTokenLifespan": 42}).status_code == 204
    (repaired,), _ = play_tasks(tmp_path, keycloak, [batch(entries + [member(added, ["ops@new.example.com"])])])
    assert [name for name, result in ok(repaired)["tenants"].items() if result["changed"]] == [drifted, added]
    assert admin.realm(drifted)["accessTokenLifespan"] == 300
    assert admin.realm(added) is not None


def test_a_failing_write_names_the_tenant_and_step_and_a_rerun_completes_the_rest(tmp_path, keycloak, admin, tenants):
    first, second, third = tenants("fail-a"), tenants("fail-b"), tenants("fail-c")
    created, _ = play_tasks(tmp_path, keycloak, [batch([member(first, ["ops@a.example.com"]),
                                                        member(second, ["ops@b.example.com"])])])
    assert ok(created[0])["changed"]
    # Drift in the first tenant, and a user squatting on the e-mail address the second tenant's new owner needs.
    assert admin.call("PUT", f"/{first}", json={"accessTokenLifespan": 42}).status_code == 204
    squatter = admin.call("POST", f"/{second}/users", json={"username": "squatter-it", "email": "new@b.example.com",
                                                            "enabled": True})
    assert squatter.status_code == 201, squatter.text
    entries = [member(first, ["ops@a.example.com"]), member(second, ["ops@b.example.com", "new@b.example.com"]),
               member(third, ["ops@c.example.com"])]
    failed, _ = play_tasks(tmp_path, keycloak, [batch(entries, ignore_errors=True)], diff=True)
    failure = failed[0]
    assert failure["failed"] and failure["tenant"] == second, failure.get("msg")
    assert failure["msg"].startswith(f"tenant {second}: create user new@b.example.com in {second}-owners failed: ")
    assert failure["status"] == 409 and "same email" in failure["msg"]
    # Converged before the failure: the first tenant's repair; the third was not reached.
    assert list(failure["tenants"]) == [first] and failure["tenants"][first]["changed"]
    assert admin.realm(first)["accessTokenLifespan"] == 300 and admin.realm(third) is None

    # With the squatter gone, the same call completes the rest; then the tenants are offboarded in one call.
    assert admin.call("DELETE", f"/{second}/users/{squatter.headers['Location'].rsplit('/', 1)[-1]}").status_code == 204
    offboard = [{"name": name, "state": "absent"} for name in (first, second, third)]
    results, _ = play_tasks(tmp_path, keycloak, [batch(entries), batch(entries), batch(offboard)], diff=True)
    rerun, again, removed = results
    assert [name for name, result in ok(rerun)["tenants"].items() if result["changed"]] == [second, third]
    assert [diff["before_header"].split(":")[0] for diff in rerun["diff"]] == [f"tenant {second}", f"tenant {third}"]
    assert not ok(again)["changed"] and writes(again) == 0
    assert ok(removed)["changed"] and all(admin.realm(name) is None for name in (first, second, third))
