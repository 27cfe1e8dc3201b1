"""lab.gateway_client's token helpers and lab.demo_isolation's reading of the topology (no servers)."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.demo_isolation import present_tenants
from lab.gateway_client import tampered, token_claims


@pytest.fixture(scope="module")
def signed():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": "http://127.0.0.1:18080/realms/acme", "aud": ["observability-gateway"], "tenant": "acme"}
    return jwt.encode(claims, key, algorithm="RS256"), key.public_key(), claims


def test_token_claims_reads_the_payload_without_verifying(signed):
    token, _, claims = signed
    assert token_claims(token) == claims


def test_tampered_token_keeps_header_and_payload_and_fails_verification(signed):
    token, public_key, claims = signed
    assert jwt.decode(token, public_key, algorithms=["RS256"], audience="observability-gateway") == claims

    altered = tampered(token)

    assert altered.split(".")[:2] == token.split(".")[:2]
    assert altered.split(".")[2] != token.split(".")[2]
    assert token_claims(altered) == claims
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(altered, public_key, algorithms=["RS256"], audience="observability-gateway")


def test_present_tenants_leaves_out_offboarded_ones(tmp_path):
    topology = tmp_path / "topology.yml"
    topology.write_text(
        "tenants:\n"
        "  - {name: acme, regions: [us-east-1, eu-west-1]}\n"
        "  - {name: globex, regions: [eu-west-1], state: present}\n"
        "  - {name: initech, regions: [us-east-1], state: absent}\n")
    assert present_tenants(topology) == {"acme": ["us-east-1", "eu-west-1"], "globex": ["eu-west-1"]}
