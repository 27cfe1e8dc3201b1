"""OpenBao (Vault API) per region: tenant-scoped policies are enforced by the real server."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest

pytestmark = pytest.mark.lab


@pytest.fixture
def root_client(lab, region):
    vault = lab["regions"][region]["vault"]
    client = hvac.Client(url=vault["addr"], token=vault["token"])
    assert client.is_authenticated()
    return client


@pytest.fixture
def kv_mount(root_client, unique):
    mount = f"lab-test-{unique}"
    root_client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    yield mount
    root_client.sys.disable_secrets_engine(mount)


def test_tenant_token_reads_own_path_and_is_denied_another(lab, region, root_client, kv_mount, unique):
    for tenant in ("tenant-a", "tenant-b"):
        root_client.secrets.kv.v2.create_or_update_secret(
            mount_point=kv_mount, path=f"{tenant}/config", secret={"owner": tenant})
    policy = f"lab-test-{unique}-tenant-a"
    root_client.sys.create_or_update_policy(
        name=policy,
        policy=f'path "{kv_mount}/data/tenant-a/*" {{ capabilities = ["read"] }}\n',
    )
    token = root_client.auth.token.create(policies=[policy], ttl="5m", no_default_policy=True)
    tenant_client = hvac.Client(url=lab["regions"][region]["vault"]["addr"],
                                token=token["auth"]["client_token"])
    try:
        own = tenant_client.secrets.kv.v2.read_secret_version(
            mount_point=kv_mount, path="tenant-a/config", raise_on_deleted_version=True)
        assert own["data"]["data"] == {"owner": "tenant-a"}

        with pytest.raises(hvac.exceptions.Forbidden):
            tenant_client.secrets.kv.v2.read_secret_version(
                mount_point=kv_mount, path="tenant-b/config", raise_on_deleted_version=True)
        # Nor may it write to its own path: the policy grants read only.
        with pytest.raises(hvac.exceptions.Forbidden):
            tenant_client.secrets.kv.v2.create_or_update_secret(
                mount_point=kv_mount, path="tenant-a/config", secret={"owner": "mallory"})
    finally:
        root_client.auth.token.revoke(token["auth"]["client_token"])
        root_client.sys.delete_policy(policy)


def test_regions_are_separate_servers(lab):
    east = lab["regions"]["us-east-1"]["vault"]
    west = lab["regions"]["eu-west-1"]["vault"]
    assert east["addr"] != west["addr"] and east["token"] != west["token"]
    # us-east-1's root token means nothing to eu-west-1's server.
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=west["addr"], token=east["token"]).auth.token.lookup_self()
    health = hvac.Client(url=west["addr"]).sys.read_health_status(method="GET")
    assert health["initialized"] is True and health["sealed"] is False
