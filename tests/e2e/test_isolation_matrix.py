"""The isolation matrix: tenants write and read metrics and logs only as the tenant their token names.

Runs against the real Keycloak, each region's Envoy (configured by the istio role) and Thanos, in both lab
regions, after the session fixture converged the lab inventory. Every attack has a positive twin that succeeds
with the same request shape, so no test passes because everything fails. "Nothing stored" is checked after the
twin's series is visible in Thanos: receive stores a sample before it answers, so an attack sent before the
twin would be visible by then.
"""

from __future__ import annotations

import time
import uuid

import pytest

from lab.gateway_client import RegionGateway, client_credentials_token, tampered, token_claims
from tests.e2e.isolation import ACME, GLOBEX, METRIC, labels, selector, tenants_holding
from tests.support.gateway import Gateway, ensure_realm, realm_token

pytestmark = pytest.mark.lab

ACCEPTED = (200, 204)
# Envoy's jwt_authn accepts a token this long after its exp unless the provider sets clock_skew_seconds.
ENVOY_DEFAULT_CLOCK_SKEW = 60
FORGED = {"THANOS-TENANT": GLOBEX, "X-Scope-OrgID": GLOBEX}


def tenant_ids(result: list[dict]) -> list[str]:
    return sorted(series["metric"].get("tenant_id", "") for series in result)


def write_twin(gateway, token: str, run_id: str, case: str) -> None:
    """The positive twin: acme's valid token, same forged headers, lands under acme (and is visible)."""
    assert gateway.write(labels(run_id, case), token=token, headers=FORGED) in ACCEPTED
    assert tenant_ids(gateway.wait_stored(selector(run_id, case), ACME)) == [ACME]


# --- a tenant's own token ---------------------------------------------------------------------------


def test_token_writes_under_its_tenant_and_its_query_sees_it(gateway, token_of, run_id):
    case = f"own-{gateway.region}"
    token = token_of(ACME)

    assert gateway.write(labels(run_id, case), token=token) in ACCEPTED

    assert tenant_ids(gateway.wait_stored(selector(run_id, case), ACME)) == [ACME]
    status, seen = gateway.query(selector(run_id, case), token=token)
    assert status == 200 and tenant_ids(seen) == [ACME]
    # Straight against Thanos: under acme and under no other tenant.
    assert tenants_holding(gateway, selector(run_id, case), [ACME, GLOBEX]) == {ACME: [ACME]}


def test_tenant_is_refused_in_a_region_it_does_not_live_in(lab, token_of, run_id, served):
    """globex lives in eu-west-1 only: its token writes there and is refused by us-east-1's gateway."""
    token = token_of(GLOBEX)
    home, elsewhere = RegionGateway(lab, "eu-west-1"), RegionGateway(lab, "us-east-1")
    assert GLOBEX in served["eu-west-1"] and GLOBEX not in served["us-east-1"]

    assert elsewhere.write(labels(run_id, "globex-elsewhere"), token=token) == 401
    assert elsewhere.query(selector(run_id, "globex-elsewhere"), token=token)[0] == 401
    assert home.write(labels(run_id, "globex-home"), token=token) in ACCEPTED
    assert tenant_ids(home.wait_stored(selector(run_id, "globex-home"), GLOBEX)) == [GLOBEX]

    # The refused write reached no Thanos: checked after the home write (later) is visible.
    assert elsewhere.write(labels(run_id, "globex-elsewhere-twin"), token=token_of(ACME)) in ACCEPTED
    assert elsewhere.wait_stored(selector(run_id, "globex-elsewhere-twin"), ACME)
    for gateway in (home, elsewhere):
        assert tenants_holding(gateway, selector(run_id, "globex-elsewhere"), [ACME, GLOBEX]) == {}


# --- forged tenant headers ----------------------------------------------------------------------------


def test_forged_tenant_header_on_write_is_replaced_by_the_claim(gateway, token_of, run_id, served):
    case = f"forged-write-{gateway.region}"
    token = token_of(ACME)

    assert gateway.write(labels(run_id, case), token=token, headers=FORGED) in ACCEPTED

    assert tenant_ids(gateway.wait_stored(selector(run_id, case), ACME)) == [ACME]
    assert tenants_holding(gateway, selector(run_id, case), [ACME, GLOBEX]) == {ACME: [ACME]}
    if GLOBEX in served[gateway.region]:
        # globex's own query through the gateway does not see it, while it does see globex's series (the twin).
        globex_token = token_of(GLOBEX)
        twin = f"forged-write-globex-own-{gateway.region}"
        assert gateway.write(labels(run_id, twin), token=globex_token) in ACCEPTED
        assert gateway.wait_stored(selector(run_id, twin), GLOBEX)
        status, seen = gateway.query(f'{METRIC}{{run="{run_id}",case=~"{case}|{twin}"}}', token=globex_token)
        assert status == 200
        assert [(s["metric"]["case"], s["metric"]["tenant_id"]) for s in seen] == [(twin, GLOBEX)]


def test_forged_tenant_header_on_query_returns_only_the_tokens_tenant(gateway, token_of, run_id, served):
    acme_case, globex_case = f"forged-query-acme-{gateway.region}", f"forged-query-globex-{gateway.region}"
    token = token_of(ACME)
    assert gateway.write(labels(run_id, acme_case), token=token) in ACCEPTED
    # globex's series: through the gateway where globex lives, else straight into receive (setup, not an attack).
    if GLOBEX in served[gateway.region]:
        assert gateway.write(labels(run_id, globex_case), token=token_of(GLOBEX)) in ACCEPTED
    else:
        assert gateway.write_direct(labels(run_id, globex_case), GLOBEX) in ACCEPTED
    # The twin: both series exist, each under its own tenant.
    assert tenant_ids(gateway.wait_stored(selector(run_id, globex_case), GLOBEX)) == [GLOBEX]
    assert tenant_ids(gateway.wait_stored(selector(run_id, acme_case), ACME)) == [ACME]

    both = f'{METRIC}{{run="{run_id}",case=~"{acme_case}|{globex_case}"}}'
    status, seen = gateway.query(both, token=token, headers=FORGED)
    assert status == 200 and tenant_ids(seen) == [ACME]
    # Naming globex's tenant label in the query does not reach globex either: Thanos replaces the matcher with the
    # header's tenant, so the answer is acme's series (acme_case among them) and never globex's.
    status, seen = gateway.query(f'{METRIC}{{run="{run_id}",tenant_id="{GLOBEX}"}}', token=token, headers=FORGED)
    assert status == 200 and set(tenant_ids(seen)) == {ACME}
    assert acme_case in {series["metric"]["case"] for series in seen}


# --- tokens the gateway must refuse ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def foreign_realm(lab, tmp_path_factory, keycloak_admin):
    """A realm made like a tenant's (same clients, tenant claim, audience) but not in the topology."""
    name = f"e2e-foreign-{uuid.uuid4().hex[:6]}"
    directory = tmp_path_factory.mktemp("foreign-realm")
    realm = ensure_realm(directory, lab["keycloak"], name)
    try:
        yield name, realm
    finally:
        ensure_realm(directory, lab["keycloak"], name, state="absent")


@pytest.fixture
def bad_token(request, lab, token_of, foreign_realm):
    """(token or None, extra tenant ids to check) for each way of holding no valid token."""
    kind = request.param
    if kind == "no-token":
        return None, []
    if kind == "altered-signature":
        return tampered(token_of(ACME)), []
    name, realm = foreign_realm
    token = realm_token(lab["keycloak"], realm, name)
    # A well-formed tenant token: the only thing wrong with it is the realm that signed it.
    claims = token_claims(token)
    assert claims["tenant"] == name and "observability-gateway" in claims["aud"]
    return token, [name]


@pytest.mark.parametrize("bad_token", ["no-token", "altered-signature", "foreign-realm"], indirect=True)
def test_request_without_a_valid_token_is_refused_and_stores_nothing(gateway, bad_token, token_of, run_id, request):
    token, other_tenants = bad_token
    kind = request.node.callspec.params["bad_token"]
    case = f"{kind}-{gateway.region}"

    assert gateway.write(labels(run_id, case), token=token, headers=FORGED) == 401
    assert gateway.query(selector(run_id, case), token=token, headers=FORGED)[0] == 401

    write_twin(gateway, token_of(ACME), run_id, f"{case}-twin")
    assert tenants_holding(gateway, selector(run_id, case), [ACME, GLOBEX, *other_tenants]) == {}


@pytest.fixture(scope="module")
def acme_client(keycloak_admin):
    """Factory: a throwaway client-credentials client in acme's realm; all are deleted after the module."""
    created = []

    def make(*, with_tenant_claim: bool, token_lifespan: int | None = None) -> tuple[str, str]:
        client_id = f"e2e-{'claim' if with_tenant_claim else 'noclaim'}-{uuid.uuid4().hex[:6]}"
        internal_id, secret = keycloak_admin.create_machine_client(
            ACME, client_id, tenant=ACME if with_tenant_claim else None, token_lifespan=token_lifespan)
        created.append(internal_id)
        return client_id, secret

    yield make
    for internal_id in created:
        keycloak_admin.delete_client(ACME, internal_id)


def test_valid_token_without_the_tenant_claim_is_refused_and_stores_nothing(lab, gateway, acme_client, run_id):
    keycloak_url = lab["keycloak"]["url"]
    without_claim = client_credentials_token(keycloak_url, ACME, *acme_client(with_tenant_claim=False))
    with_claim = client_credentials_token(keycloak_url, ACME, *acme_client(with_tenant_claim=True))
    # Same realm, same audience, valid signature: the tenant claim is the only difference.
    assert "tenant" not in token_claims(without_claim) and token_claims(with_claim)["tenant"] == ACME
    case = f"no-claim-{gateway.region}"
    # The client names its own realm's tenant in the header: the gateway drops it and requires the claim.
    own_tenant = {"THANOS-TENANT": ACME, "X-Scope-OrgID": ACME}

    assert gateway.write(labels(run_id, case), token=without_claim, headers=own_tenant) == 403
    assert gateway.query(selector(run_id, case), token=without_claim, headers=own_tenant)[0] == 403

    assert gateway.write(labels(run_id, f"{case}-twin"), token=with_claim, headers=own_tenant) in ACCEPTED
    assert tenant_ids(gateway.wait_stored(selector(run_id, f"{case}-twin"), ACME)) == [ACME]
    assert tenants_holding(gateway, selector(run_id, case), [ACME, GLOBEX]) == {}


def test_expired_token_is_refused_in_both_regions(lab, acme_client, run_id):
    """A token of a client whose tokens live 2 s: accepted while valid, refused once Envoy deems it expired."""
    token = client_credentials_token(lab["keycloak"]["url"], ACME,
                                     *acme_client(with_tenant_claim=True, token_lifespan=2))
    gateways = [RegionGateway(lab, region) for region in ("us-east-1", "eu-west-1")]
    for gateway in gateways:  # the twin: the same token before it expires
        assert gateway.write(labels(run_id, f"expiring-{gateway.region}-twin"), token=token) in ACCEPTED
        assert tenant_ids(gateway.wait_stored(selector(run_id, f"expiring-{gateway.region}-twin"), ACME)) == [ACME]

    skew = max(clock_skew(Gateway(lab, gateway.region)) for gateway in gateways)
    expires = token_claims(token)["exp"]
    time.sleep(max(0.0, expires + skew + 1 - time.time()))

    for gateway in gateways:
        case = f"expired-{gateway.region}"
        assert gateway.write(labels(run_id, case), token=token, headers=FORGED) == 401
        assert gateway.query(selector(run_id, case), token=token)[0] == 401
        write_twin(gateway, client_credentials_token(lab["keycloak"]["url"], ACME,
                                                     *acme_client(with_tenant_claim=True)), run_id, f"{case}-later")
        assert tenants_holding(gateway, selector(run_id, case), [ACME, GLOBEX]) == {}


def clock_skew(gateway: Gateway) -> int:
    """The acme provider's allowed clock skew in the running Envoy."""
    provider = gateway.providers()[ACME]
    return int(provider.get("clock_skew_seconds", ENVOY_DEFAULT_CLOCK_SKEW))


# --- logs routes: the header the upstream receives ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/loki/api/v1/push", "/loki/api/v1/query_range"])
def test_logs_upstream_receives_the_claims_tenant_only(lab, gateway, token_of, acme_client, path, served):
    echo = gateway.logs(path, token=token_of(ACME), headers=FORGED)
    assert echo.status_code == 200, echo.text
    received = echo.json()["headers"]
    assert received.get("x-scope-orgid") == [ACME]
    assert received.get("thanos-tenant") == [ACME]
    assert "authorization" not in received  # the tenant's token stays at the gateway

    if GLOBEX in served[gateway.region]:
        assert gateway.logs(path, token=token_of(GLOBEX)).json()["headers"].get("x-scope-orgid") == [GLOBEX]
    else:
        assert gateway.logs(path, token=token_of(GLOBEX)).status_code == 401

    forged_only = {"X-Scope-OrgID": ACME}
    assert gateway.logs(path, headers=forged_only).status_code == 401
    assert gateway.logs(path, token=tampered(token_of(ACME)), headers=forged_only).status_code == 401
    without_claim = client_credentials_token(lab["keycloak"]["url"], ACME, *acme_client(with_tenant_claim=False))
    assert gateway.logs(path, token=without_claim, headers=forged_only).status_code == 403

