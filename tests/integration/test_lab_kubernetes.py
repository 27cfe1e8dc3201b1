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


# --- the policy CRDs `lab up` installs (lab/crds.py): Gatekeeper's and Cilium's, validated by their real schemas ---

GATEKEEPER_TEMPLATES = ("templates.gatekeeper.sh", "v1", "constrainttemplates")
CILIUM_CLUSTERWIDE = ("cilium.io", "v2", "ciliumclusterwidenetworkpolicies")


def _constraint_template(name: str, kind: str, targets) -> dict:
    return {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": name},
        "spec": {"crd": {"spec": {"names": {"kind": kind}}}, "targets": targets},
    }


def _cilium_dns_egress(name: str, protocol: str) -> dict:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "endpointSelector": {"matchLabels": {"meridian.io/tenant": "acme"}},
            "egress": [{"toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system"}}],
                        "toPorts": [{"ports": [{"port": "53", "protocol": protocol}]}]}],
        },
    }


def _delete_cluster_object(custom: client.CustomObjectsApi, resource: tuple[str, str, str], name: str) -> None:
    try:
        custom.delete_cluster_custom_object(*resource, name)
    except ApiException as err:
        if err.status != 404:
            raise


def test_lab_up_installed_the_policy_crds(kube_api, region):
    from lab.crds import cluster_crd_paths, crd_documents

    extensions = client.ApiextensionsV1Api(kube_api(region))
    shipped = {component: [doc["metadata"]["name"] for path in paths for doc in crd_documents(path)]
               for component, paths in cluster_crd_paths().items()}
    assert len(shipped["gatekeeper-crds"]) == 17
    assert "constrainttemplates.templates.gatekeeper.sh" in shipped["gatekeeper-crds"]
    assert sorted(shipped["cilium-crds"]) == ["ciliumclusterwidenetworkpolicies.cilium.io",
                                              "ciliumnetworkpolicies.cilium.io"]
    for component, names in shipped.items():
        for name in names:
            conditions = extensions.read_custom_resource_definition(name).status.conditions or []
            assert any(c.type == "Established" and c.status == "True" for c in conditions), (component, name)


def test_constraint_template_with_rego_is_stored(kube_api, region, unique):
    custom = client.CustomObjectsApi(kube_api(region))
    name = f"labtest{unique}"
    rego = ("package labtest\n\n"
            "violation[{\"msg\": msg}] {\n"
            "  not input.review.object.metadata.labels[\"meridian.io/tenant\"]\n"
            "  msg := \"the tenant label is missing\"\n"
            "}\n")
    template = _constraint_template(name, f"LabTest{unique}", [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}])
    try:
        custom.create_cluster_custom_object(*GATEKEEPER_TEMPLATES, template)
        stored = custom.get_cluster_custom_object(*GATEKEEPER_TEMPLATES, name)
        assert stored["spec"]["targets"][0]["rego"] == rego
        assert stored["spec"]["crd"]["spec"]["names"]["kind"] == f"LabTest{unique}"
    finally:
        _delete_cluster_object(custom, GATEKEEPER_TEMPLATES, name)


def test_constraint_template_of_the_wrong_shape_is_refused(kube_api, region, unique):
    custom = client.CustomObjectsApi(kube_api(region))
    name = f"labtest{unique}"
    broken = _constraint_template(name, f"LabTest{unique}", {"target": "admission.k8s.gatekeeper.sh"})
    try:
        with pytest.raises(ApiException) as refused:
            custom.create_cluster_custom_object(*GATEKEEPER_TEMPLATES, broken)
        assert refused.value.status == 422
        assert "spec.targets" in refused.value.body
        with pytest.raises(ApiException) as missing:  # never stored
            custom.get_cluster_custom_object(*GATEKEEPER_TEMPLATES, name)
        assert missing.value.status == 404
    finally:
        _delete_cluster_object(custom, GATEKEEPER_TEMPLATES, name)


def test_constraints_cannot_be_stored_without_gatekeeper(kube_api, region, unique):
    """The Constraint kinds are CRDs Gatekeeper's controller generates from each template; the lab does not run it."""
    custom = client.CustomObjectsApi(kube_api(region))
    constraint = {"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sRequiredLabels",
                  "metadata": {"name": f"labtest{unique}"}, "spec": {}}
    with pytest.raises(ApiException) as refused:
        custom.create_cluster_custom_object("constraints.gatekeeper.sh", "v1beta1", "k8srequiredlabels", constraint)
    assert refused.value.status == 404


def test_cilium_clusterwide_policy_is_validated_by_ciliums_schema(kube_api, region, unique):
    custom = client.CustomObjectsApi(kube_api(region))
    valid, invalid = f"labtest-valid-{unique}", f"labtest-invalid-{unique}"
    try:
        with pytest.raises(ApiException) as refused:
            custom.create_cluster_custom_object(*CILIUM_CLUSTERWIDE, _cilium_dns_egress(invalid, "DNS"))
        assert refused.value.status == 422
        assert "spec.egress[0].toPorts[0].ports[0].protocol" in refused.value.body
        assert "Unsupported value" in refused.value.body

        custom.create_cluster_custom_object(*CILIUM_CLUSTERWIDE, _cilium_dns_egress(valid, "UDP"))
        stored = custom.get_cluster_custom_object(*CILIUM_CLUSTERWIDE, valid)
        assert stored["spec"]["egress"][0]["toPorts"][0]["ports"][0] == {"port": "53", "protocol": "UDP"}
    finally:
        _delete_cluster_object(custom, CILIUM_CLUSTERWIDE, valid)
        _delete_cluster_object(custom, CILIUM_CLUSTERWIDE, invalid)
