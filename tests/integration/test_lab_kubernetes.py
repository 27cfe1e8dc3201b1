"""Each region's control plane authorises with real RBAC and runs real controllers."""

from __future__ import annotations

import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.lab

POLL_SECONDS = 60


def _wait_until(predicate, timeout: float = POLL_SECONDS, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def _namespace_gone(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespace(name)
    except ApiException as err:
        if err.status == 404:
            return True
        raise
    return False


@pytest.fixture
def namespace(kube_api, region, unique):
    core = client.CoreV1Api(kube_api(region))
    name = f"lab-test-{unique}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as err:
        if err.status != 404:
            raise


def test_rolebinding_grants_alice_and_not_bob(kube_api, region, namespace):
    admin = kube_api(region)
    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="pod-reader"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])],
    ))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="alice-reads-pods"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name="pod-reader"),
        subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User",
                                       name="alice")],
    ))

    # alice asks the server about herself, then actually lists.
    review = client.AuthorizationV1Api(kube_api(region, "alice")).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb="list", resource="pods"))))
    assert review.status.allowed is True
    pods = client.CoreV1Api(kube_api(region, "alice")).list_namespaced_pod(namespace)
    assert pods.items == []

    # The admin asks about bob; bob's own list is refused.
    review = client.AuthorizationV1Api(admin).create_subject_access_review(
        client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
            user="bob", groups=["lab:users"],
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb="list", resource="pods"))))
    assert review.status.allowed is False
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(kube_api(region, "bob")).list_namespaced_pod(namespace)
    assert err.value.status == 403
    # alice's grant stops at her namespace.
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(kube_api(region, "alice")).list_namespaced_pod("default")
    assert err.value.status == 403


def test_deleted_namespace_is_finalized(kube_api, region, unique):
    core = client.CoreV1Api(kube_api(region))
    name = f"lab-test-{unique}-gone"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="content"), data={"k": "v"}))
    # The controller manager's service-account controller fills a new namespace.
    assert _wait_until(lambda: any(
        sa.metadata.name == "default" for sa in core.list_namespaced_service_account(name).items))

    core.delete_namespace(name)
    # Finalising needs the namespace controller to empty it first.
    assert _wait_until(lambda: _namespace_gone(core, name)), f"namespace {name} still exists"


def test_garbage_collector_deletes_dependents(kube_api, region, namespace):
    core = client.CoreV1Api(kube_api(region))
    owner = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="owner")))
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="dependent", owner_references=[client.V1OwnerReference(
            api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)])))
    core.delete_namespaced_config_map("owner", namespace,
                                      body=client.V1DeleteOptions(propagation_policy="Background"))

    def dependent_gone() -> bool:
        try:
            core.read_namespaced_config_map("dependent", namespace)
        except ApiException as err:
            return err.status == 404
        return False

    assert _wait_until(dependent_gone), "garbage collector left the dependent in place"


def test_regions_are_separate_clusters(kube_api, namespace, region):
    other = "eu-west-1" if region == "us-east-1" else "us-east-1"
    assert _namespace_gone(client.CoreV1Api(kube_api(other)), namespace)


def test_static_token_authenticates(lab, region):
    kubernetes = lab["regions"][region]["kubernetes"]
    configuration = client.Configuration()
    configuration.host = kubernetes["api_server"]
    configuration.ssl_ca_cert = kubernetes["ca_file"]
    configuration.api_key = {"authorization": kubernetes["users"]["admin"]["token"]}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(configuration) as api:
        review = client.AuthenticationV1Api(api).create_self_subject_review(
            client.V1SelfSubjectReview())
    assert review.status.user_info.username == kubernetes["users"]["admin"]["name"]
    assert "system:masters" in review.status.user_info.groups


def test_service_account_token_passes_token_review(kube_api, region, namespace):
    """What OpenBao's Kubernetes auth relies on: issued SA tokens verify via TokenReview."""
    admin = kube_api(region)
    core = client.CoreV1Api(admin)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="tenant-app")))
    token = core.create_namespaced_service_account_token(
        "tenant-app", namespace,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
            audiences=[], expiration_seconds=600))).status.token
    review = client.AuthenticationV1Api(admin).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token)))
    assert review.status.authenticated is True
    assert review.status.user.username == f"system:serviceaccount:{namespace}:tenant-app"

    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    review = client.AuthenticationV1Api(admin).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=forged)))
    assert not review.status.authenticated
