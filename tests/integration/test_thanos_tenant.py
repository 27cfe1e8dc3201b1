"""thanos_tenant and thanos_tenant_info against the lab's real Thanos Receive and kube-apiserver.

Every module runs as Ansible runs it (`ansible localhost -m ...` through tests/support/ansible.py).
The file store is the running receive's own hashrings and limits files: the tests prove receive reloads
them without a restart (HTTP 413 for the limited tenant, 2xx for the other) and put the original bytes
back afterwards. The ConfigMap store runs against the region's kube-apiserver with the admin kubeconfig.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "collections"
if str(COLLECTIONS) not in sys.path:  # the in-process conflict test imports the collection's module_utils
    sys.path.insert(0, str(COLLECTIONS))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lab import remote_write  # noqa: E402  (the lab's protobuf+snappy encoder; no native libraries)
from tests.support.ansible import run_module  # noqa: E402

pytestmark = pytest.mark.lab

REGION = "us-east-1"
RING = "it-tenants"
LIMITED = "it-a"
UNLIMITED = "it-b"
MANAGED_LABEL = "meridian.observability/thanos-tenants"


# ---------------------------------------------------------------- helpers

def ansible(module: str, args: dict, *, check: bool = False, diff: bool = False) -> dict:
    """Run one of this collection's modules through `ansible` and return its result for localhost."""
    return run_module(f"meridian.observability.{module}", args, check=check, diff=diff, timeout=120)


def ok(result: dict) -> dict:
    assert not result.get("failed"), result.get("msg")
    return result


def four_step(module: str, args: dict) -> list:
    """check -> apply -> check -> apply; the first two report a change, the last two do not."""
    results = [ok(ansible(module, args, check=True, diff=True)), ok(ansible(module, args, diff=True)),
               ok(ansible(module, args, check=True, diff=True)), ok(ansible(module, args, diff=True))]
    assert [r["changed"] for r in results] == [True, True, False, False], [r["changed"] for r in results]
    return results


def thanos(lab) -> dict:
    return lab["regions"][REGION]["thanos"]


def kube(lab) -> dict:
    return lab["regions"][REGION]["kubernetes"]


def file_store(lab) -> dict:
    return {"hashrings_path": thanos(lab)["hashrings_file"], "limits_path": thanos(lab)["limits_file"]}


def node_endpoint(lab) -> list:
    return [{"address": thanos(lab)["receive_grpc"], "capnproto_address": thanos(lab)["receive_capnproto"]}]


def push(lab, tenant: str, series: int) -> int:
    """One remote-write request with ``series`` new series for ``tenant``; returns the HTTP status (0 = no answer)."""
    stamp = remote_write.now_ms()
    batch = [({"__name__": "it_thanos_tenant", "n": str(n), "run": uuid.uuid4().hex[:8]}, [(1.0, stamp)])
             for n in range(series)]
    try:
        status, _body = remote_write.push(thanos(lab)["remote_write_url"], batch,
                                          headers={thanos(lab)["tenant_header"]: tenant}, timeout=10)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0
    return status


def wait_for_status(lab, tenant: str, series: int, wanted, timeout: float = 45.0) -> list:
    """Push until the status is in ``wanted``. Receive answers 503 (or drops the connection) for a moment
    after each hashring change while it flushes, and picks limits up within about a second."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = push(lab, tenant, series)
        seen.append(status)
        if status in wanted:
            return seen
        time.sleep(1)
    raise AssertionError(f"tenant {tenant}: wanted HTTP {wanted}, got {seen[-10:]}")


def hashring_tenant_count(lab, hashring: str):
    """thanos_receive_hashring_tenants{name=...}: set by receive each time it loads a hashrings file."""
    with urllib.request.urlopen(thanos(lab)["receive_http"] + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f'thanos_receive_hashring_tenants{{name="{hashring}"}} '):
                return float(line.split()[1])
    return None


def read_bytes(paths: dict) -> dict:
    return {key: pathlib.Path(path).read_bytes() if pathlib.Path(path).exists() else None
            for key, path in paths.items()}


def restore(paths: dict, saved: dict) -> None:
    for key, data in saved.items():
        path = pathlib.Path(paths[key])
        if data is None:
            path.unlink(missing_ok=True)
        else:
            temporary = path.with_name(f".{path.name}.restore")
            temporary.write_bytes(data)
            os.replace(temporary, path)


# ---------------------------------------------------------------- file store against the running receive

@pytest.fixture
def lab_files(lab):
    """The region's real files; their original bytes are put back after the test."""
    paths = file_store(lab)
    saved = read_bytes(paths)
    yield paths
    restore(paths, saved)


def test_running_receive_enforces_limits_from_the_module(lab, lab_files):
    limited = dict(lab_files, name=LIMITED, hashring=RING, hashring_endpoints=node_endpoint(lab),
                   limits={"request": {"series_limit": 1}})
    unlimited = dict(lab_files, name=UNLIMITED, hashring=RING, limits={"request": {"series_limit": 0}})

    results = four_step("thanos_tenant", limited)
    assert results[1]["created_hashring"] == RING
    assert results[1]["tenant"]["effective_limits"]["request"]["series_limit"] == 1
    four_step("thanos_tenant", unlimited)

    # The running receive reads our files: a for 3 series is refused (413), b is accepted.
    assert wait_for_status(lab, LIMITED, 3, {413})[-1] == 413
    assert wait_for_status(lab, UNLIMITED, 3, {200, 204})[-1] in (200, 204)
    assert push(lab, LIMITED, 1) in (200, 204)  # within its limit

    # ...and receive loaded the hashrings file we wrote: our hashring with its two tenants
    # (receive re-reads the file every 30s in the lab; fsnotify loses a file replaced by rename).
    deadline = time.monotonic() + 75
    while hashring_tenant_count(lab, RING) != 2 and time.monotonic() < deadline:
        time.sleep(2)
    assert hashring_tenant_count(lab, RING) == 2

    # Raising the limit is picked up without a restart too.
    ok(ansible("thanos_tenant", dict(limited, limits={"request": {"series_limit": 10}})))
    assert wait_for_status(lab, LIMITED, 3, {200, 204})[-1] in (200, 204)

    info = ok(ansible("thanos_tenant_info", dict(lab_files, name=LIMITED)))
    assert info["tenants"][0]["hashring"] == RING
    assert info["tenants"][0]["effective_limits"]["request"] == {
        "size_bytes_limit": 0, "series_limit": 10, "samples_limit": 0}

    # absent: check -> apply -> check -> apply, and it is gone from both files receive reads.
    for name in (LIMITED, UNLIMITED):
        four_step("thanos_tenant", dict(lab_files, name=name, state="absent"))
    hashrings = json.loads(pathlib.Path(lab_files["hashrings_path"]).read_text())
    assert all(LIMITED not in (ring.get("tenants") or []) for ring in hashrings)
    assert RING not in [ring["hashring"] for ring in hashrings]  # emptied, so removed
    assert LIMITED not in pathlib.Path(lab_files["limits_path"]).read_text()
    # Back on the catch-all hashring with default (no) limits.
    assert wait_for_status(lab, LIMITED, 3, {200, 204})[-1] in (200, 204)


def test_info_module_is_read_only(lab, lab_files):
    before = read_bytes(lab_files)
    results = [ok(ansible("thanos_tenant_info", lab_files, check=check)) for check in (True, False, True, False)]
    assert [r["changed"] for r in results] == [False] * 4
    assert all(r["hashrings"] == results[0]["hashrings"] for r in results)
    assert results[0]["hashrings"][-1]["catch_all"]
    assert read_bytes(lab_files) == before


# ---------------------------------------------------------------- ConfigMap store against kube-apiserver

@pytest.fixture
def core_api(lab):
    kubernetes = pytest.importorskip("kubernetes")
    api_client = kubernetes.config.new_client_from_config(config_file=kube(lab)["kubeconfig"])
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def namespace(core_api):
    name = f"it-thanos-{uuid.uuid4().hex[:6]}"
    core_api.create_namespace({"metadata": {"name": name}})
    yield name
    core_api.delete_namespace(name)


def make_configmap(core_api, namespace, name, *, labelled=True, with_hashrings=True, lab=None):
    data = {"unrelated.txt": "keep me\n"}
    if with_hashrings:
        data["hashrings.json"] = json.dumps([{"hashring": "default", "endpoints": node_endpoint(lab)}], indent=2)
    body = {"metadata": {"name": name, "labels": {MANAGED_LABEL: "managed"} if labelled else {}}, "data": data}
    return core_api.create_namespaced_config_map(namespace, body)


def configmap_store(lab, namespace, name) -> dict:
    return {"configmap_namespace": namespace, "configmap_name": name, "kubeconfig": kube(lab)["kubeconfig"]}


def test_configmap_store_check_apply_check_apply(lab, core_api, namespace):
    make_configmap(core_api, namespace, "receive-tenants", lab=lab)
    store = configmap_store(lab, namespace, "receive-tenants")
    args = dict(store, name="acme", hashring=RING, hashring_endpoints=node_endpoint(lab),
                limits={"head_series_limit": 500, "request": {"samples_limit": 1000}})
    results = four_step("thanos_tenant", args)
    assert any("meta_monitoring_url" in warning for warning in results[1].get("warnings", []))
    configmap = core_api.read_namespaced_config_map("receive-tenants", namespace)
    hashrings = json.loads(configmap.data["hashrings.json"])
    assert [ring["hashring"] for ring in hashrings] == [RING, "default"]
    assert hashrings[0]["tenants"] == ["acme"]
    assert "acme:" in configmap.data["limits.yaml"] and "samples_limit: 1000" in configmap.data["limits.yaml"]
    assert configmap.data["unrelated.txt"] == "keep me\n"
    assert configmap.metadata.labels[MANAGED_LABEL] == "managed"

    info = [ok(ansible("thanos_tenant_info", store, check=check)) for check in (True, False)]
    assert info[0] == info[1] and info[0]["tenants"][0]["effective_limits"] == {
        "request": {"size_bytes_limit": 0, "series_limit": 0, "samples_limit": 1000}, "head_series_limit": 500}

    four_step("thanos_tenant", dict(store, name="acme", state="absent"))
    configmap = core_api.read_namespaced_config_map("receive-tenants", namespace)
    assert "acme" not in configmap.data["hashrings.json"] and "acme" not in configmap.data["limits.yaml"]


def test_configmap_store_with_token_options(lab, core_api, namespace):
    """host + api_key + ca_cert, as kubernetes.core names them: the admin token writes, alice's (no RBAC
    grant) is refused with 403 and changes nothing, and neither token shows up in a result."""
    created = make_configmap(core_api, namespace, "receive-tenants", lab=lab)
    users = kube(lab)["users"]
    store = {"configmap_namespace": namespace, "configmap_name": "receive-tenants", "host": kube(lab)["api_server"],
             "ca_cert": kube(lab)["ca_file"], "validate_certs": True}
    refused = ansible("thanos_tenant", dict(store, api_key=users["alice"]["token"], name="acme", hashring="default"))
    assert refused.get("failed") and "not allowed to read ConfigMap" in refused["msg"], refused.get("msg")
    assert refused["status"] == 403 and users["alice"]["token"] not in json.dumps(refused)
    assert core_api.read_namespaced_config_map("receive-tenants", namespace).metadata.resource_version == \
        created.metadata.resource_version

    results = four_step("thanos_tenant", dict(store, api_key=users["admin"]["token"], name="acme", hashring=RING,
                                              hashring_endpoints=node_endpoint(lab)))
    assert all(users["admin"]["token"] not in json.dumps(result) for result in results)
    assert json.loads(core_api.read_namespaced_config_map("receive-tenants", namespace).data["hashrings.json"])[0][
        "tenants"] == ["acme"]


def test_configmap_concurrent_writer_is_not_lost(lab, core_api, namespace):
    """Another writer changes the ConfigMap between our read and our replace: the API server answers 409,
    the service re-reads, and both changes survive."""
    from ansible_collections.meridian.observability.plugins.module_utils._thanos.service import TenantService
    from ansible_collections.meridian.observability.plugins.module_utils._thanos.store import (
        ConfigMapStore,
        kubernetes_client,
    )

    make_configmap(core_api, namespace, "receive-tenants", lab=lab)
    make_configmap(core_api, namespace, "receive-tenants-2", lab=lab)

    class InterleavedStore(ConfigMapStore):
        interleaved = False

        def write(self, snapshot, changes):
            if not self.interleaved:
                self.interleaved = True
                current = core_api.read_namespaced_config_map(self.name, self.namespace)
                current.data["other-writer.txt"] = "from the other writer\n"
                core_api.replace_namespaced_config_map(self.name, self.namespace, current)
            super().write(snapshot, changes)

    store = InterleavedStore(namespace, "receive-tenants", "hashrings.json", "limits.yaml",
                             kubernetes_client(kubeconfig=kube(lab)["kubeconfig"]))
    result = TenantService(store).ensure({"name": "acme", "state": "present", "hashring": RING,
                                          "hashring_endpoints": node_endpoint(lab), "limits": {"request": {"series_limit": 3}}})
    assert result["changed"] and result["attempts"] == 2
    configmap = core_api.read_namespaced_config_map("receive-tenants", namespace)
    assert configmap.data["other-writer.txt"] == "from the other writer\n"
    assert "acme" in configmap.data["hashrings.json"] and "series_limit: 3" in configmap.data["limits.yaml"]

    # Real concurrency: six ansible runs at once on the second ConfigMap, each adding its own tenant.
    store_args = configmap_store(lab, namespace, "receive-tenants-2")
    results = {}

    def add(name):
        results[name] = ansible("thanos_tenant", dict(store_args, name=name, hashring=RING,
                                                      hashring_endpoints=node_endpoint(lab),
                                                      limits={"request": {"series_limit": 5}}))

    names = [f"t{n}" for n in range(6)]
    threads = [threading.Thread(target=add, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in names:
        ok(results[name])
    configmap = core_api.read_namespaced_config_map("receive-tenants-2", namespace)
    assert sorted(json.loads(configmap.data["hashrings.json"])[0]["tenants"]) == names
    assert all(f"{name}:" in configmap.data["limits.yaml"] for name in names)


# ---------------------------------------------------------------- bad inputs: a clear message, nothing changed

BAD_FILE_INPUTS = [
    ("bad name", {"name": "Not_A_Label", "hashring": RING}, "not a DNS-1123 label"),
    ("name too long", {"name": "a" * 41, "hashring": RING}, "the limit is 40"),
    ("negative limit", {"name": "acme", "hashring": "default", "limits": {"request": {"series_limit": -1}}},
     "limits.request.series_limit: -1 is not a non-negative integer"),
    ("non-numeric limit", {"name": "acme", "hashring": "default", "limits": {"head_series_limit": "lots"}},
     "head_series_limit"),
    ("unknown limit key", {"name": "acme", "hashring": "default", "limits": {"request": {"series": 1}}},
     "limits.request.series"),
    ("unknown hashring", {"name": "acme", "hashring": "gold"}, "hashring 'gold' does not exist"),
    ("catch-all hashring", {"name": "acme", "hashring": "default"}, "no tenant list"),
    ("malformed endpoint", {"name": "acme", "hashring": "gold", "hashring_endpoints": [{"address": "receive-0"}]},
     "'receive-0' is not host:port"),
    ("missing hashring", {"name": "acme"}, "missing: hashring"),
]


@pytest.mark.parametrize("args,message", [case[1:] for case in BAD_FILE_INPUTS], ids=[case[0] for case in BAD_FILE_INPUTS])
def test_bad_input_on_lab_files(lab, lab_files, args, message):
    before = read_bytes(lab_files)
    result = ansible("thanos_tenant", dict(lab_files, **args))
    assert result.get("failed") and message in result["msg"], result.get("msg")
    assert read_bytes(lab_files) == before


def test_bad_store_options(lab, tmp_path):
    cases = [
        ({"name": "acme", "hashring": RING}, "one of the following is required: hashrings_path, configmap_name"),
        (dict(file_store(lab), configmap_name="x", configmap_namespace="y", name="acme", hashring=RING),
         "mutually exclusive: hashrings_path|configmap_name"),
        ({"hashrings_path": str(tmp_path / "h.json"), "name": "acme", "hashring": RING},
         "required together: hashrings_path, limits_path"),
        ({"hashrings_path": str(tmp_path / "missing.json"), "limits_path": str(tmp_path / "l.yaml"),
          "name": "acme", "hashring": RING}, "does not exist"),
        ({"hashrings_path": str(tmp_path), "limits_path": str(tmp_path / "l.yaml"), "name": "acme", "hashring": RING},
         "is a directory"),
    ]
    for args, message in cases:
        result = ansible("thanos_tenant", args)
        assert result.get("failed") and message in result["msg"], (args, result.get("msg"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text,message", [
    ('[{"hashring": "default", "endpoints": ["127.0.0.1:1"]', "malformed hashrings JSON"),
    ('[{"hashring": "a", "tenants": ["x"], "endpoints": ["h:1"]}, {"hashring": "b", "tenants": ["x"], '
     '"endpoints": ["h:1"]}]', "a tenant must belong to exactly one hashring"),
    ('[{"hashring": "a", "endpoint": ["h:1"]}]', "unknown key 'endpoint'"),
])
def test_malformed_hashrings_file(tmp_path, text, message):
    hashrings = tmp_path / "hashrings.json"
    hashrings.write_text(text)
    before = hashrings.read_bytes()
    for module in ("thanos_tenant", "thanos_tenant_info"):
        args = {"hashrings_path": str(hashrings), "limits_path": str(tmp_path / "limits.yaml")}
        if module == "thanos_tenant":
            args.update(name="acme", hashring="a")
        result = ansible(module, args)
        assert result.get("failed") and message in result["msg"], result.get("msg")
    assert hashrings.read_bytes() == before
    assert not (tmp_path / "limits.yaml").exists()


def test_configmap_that_is_not_ours_is_refused(lab, core_api, namespace):
    for name, kwargs, message in [
        ("unlabelled", {"labelled": False}, f"lacks the label {MANAGED_LABEL}=managed"),
        ("no-hashrings", {"with_hashrings": False}, "has no 'hashrings.json' key"),
    ]:
        created = make_configmap(core_api, namespace, name, lab=lab, **kwargs)
        result = ansible("thanos_tenant", dict(configmap_store(lab, namespace, name), name="acme", hashring="default"))
        assert result.get("failed") and message in result["msg"], result.get("msg")
        after = core_api.read_namespaced_config_map(name, namespace)
        assert after.metadata.resource_version == created.metadata.resource_version
        assert after.data == created.data
    missing = ansible("thanos_tenant", dict(configmap_store(lab, namespace, "missing"), name="acme", hashring="x"))
    assert missing.get("failed") and "does not exist" in missing["msg"]


def test_unreachable_api_server(lab):
    result = ansible("thanos_tenant", {"configmap_namespace": "thanos", "configmap_name": "receive",
                                       "host": "https://127.0.0.1:9", "api_key": "not-a-token",
                                       "validate_certs": False, "name": "acme", "hashring": RING})
    assert result.get("failed") and "cannot reach the Kubernetes API server at https://127.0.0.1:9" in result["msg"]
    assert "not-a-token" not in json.dumps(result)


# ---------------------------------------------------------------- thanos_tenants: a batch in one call

def unchanged_on_disk(paths: dict) -> dict:
    """Bytes, inode and modification time of each file: a rename or a rewrite changes one of them."""
    return {key: (pathlib.Path(path).read_bytes(), pathlib.Path(path).stat().st_ino, pathlib.Path(path).stat().st_mtime_ns)
            for key, path in paths.items()}


def test_batch_on_the_running_receive_files(lab, lab_files):
    """Three tenants in one call: check -> apply -> check -> apply, the re-runs touch no file, the running receive
    enforces the batch's limits; a tenant the documents refuse fails the call by name, and a bad name is refused
    before any change beside its valid twin."""
    batch = dict(lab_files, hashring=RING, hashring_endpoints=node_endpoint(lab), tenants=[
        {"name": LIMITED, "limits": {"request": {"series_limit": 1}}},
        {"name": UNLIMITED, "limits": {"request": {"series_limit": 0}}},
        {"name": "it-never-here", "state": "absent"}])
    predicted, applied, _checked, rerun = four_step("thanos_tenants", batch)
    headers = [entry["before_header"] for entry in applied["diff"]]
    assert headers == [f"thanos tenant {LIMITED}", f"thanos tenant {UNLIMITED}", f"thanos hashring {RING}"]
    assert predicted["diff"] == applied["diff"] and predicted["tenants"] == applied["tenants"]
    assert applied["diff"][0]["after"] == {"hashring": RING, "limits": {"request": {"series_limit": 1}}}
    assert applied["created_hashrings"] == [RING] and applied["tenants"]["it-never-here"]["changed"] is False
    assert rerun["diff"] == [] and not any(entry["changed"] for entry in rerun["tenants"].values())
    on_disk = unchanged_on_disk(lab_files)
    ok(ansible("thanos_tenants", batch, diff=True))
    assert unchanged_on_disk(lab_files) == on_disk, "a run with nothing to do wrote a file"

    # The running receive reads what the one call wrote: the limited tenant is refused, the other accepted.
    assert wait_for_status(lab, LIMITED, 3, {413})[-1] == 413
    assert wait_for_status(lab, UNLIMITED, 3, {200, 204})[-1] in (200, 204)

    # A tenant the documents refuse (an unknown hashring) fails the whole call by name; nothing is written.
    # Without hashring_endpoints: the batch's endpoints would be every tenant's default and create 'gold'.
    without_endpoints = {key: value for key, value in batch.items() if key != "hashring_endpoints"}
    refused = ansible("thanos_tenants", dict(without_endpoints, tenants=[
        {"name": LIMITED, "limits": {"request": {"series_limit": 5}}}, {"name": "it-c", "hashring": "gold"}]))
    assert refused.get("failed") and refused["msg"].startswith(
        "tenant it-c: placing it in hashring 'gold' failed: hashring 'gold' does not exist"), refused.get("msg")
    assert refused["tenant"] == "it-c" and refused["converged"] == []
    assert unchanged_on_disk(lab_files) == on_disk

    # A bad name is refused naming its field, before any change; the same batch with the name fixed passes.
    bad = dict(batch, tenants=[{"name": "it-c"}, {"name": "It_D"}])
    refused = ansible("thanos_tenants", bad)
    assert refused.get("failed") and "tenants[1].name: 'It_D' is not a DNS-1123 label" in refused["msg"], refused.get("msg")
    assert refused["field"] == "tenants[1].name" and unchanged_on_disk(lab_files) == on_disk
    twin = ok(ansible("thanos_tenants", dict(bad, tenants=[{"name": "it-c"}, {"name": "it-d"}]), check=True))
    assert twin["changed"] and sorted(twin["tenants"]) == ["it-c", "it-d"] and unchanged_on_disk(lab_files) == on_disk

    # Offboarding both in one call empties the hashring, which is removed with them.
    removed = ok(ansible("thanos_tenants", dict(lab_files, tenants=[{"name": LIMITED, "state": "absent"},
                                                                    {"name": UNLIMITED, "state": "absent"}])))
    assert removed["removed_hashrings"] == [RING]
    assert RING not in [ring["hashring"] for ring in json.loads(pathlib.Path(lab_files["hashrings_path"]).read_text())]


class CountingProxy:
    """A plain-HTTP reverse proxy in front of the region's kube-apiserver that counts what it forwards.

    The module talks to it as its API server (host, api_key), so the counts are the requests the API server got.
    """

    def __init__(self, upstream: str, ca_file: str) -> None:
        import http.server
        import ssl
        from collections import Counter

        self.requests = Counter()
        context = ssl.create_default_context(cafile=ca_file)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                proxy.requests[(self.command, self.path.split("?")[0])] += 1
                headers = {key: value for key, value in self.headers.items() if key.lower() in (
                    "authorization", "content-type", "accept", "user-agent")}
                request = urllib.request.Request(upstream + self.path, data=body, method=self.command, headers=headers)
                try:
                    with urllib.request.urlopen(request, context=context, timeout=30) as response:
                        status, payload, kind = response.status, response.read(), response.headers.get("Content-Type")
                except urllib.error.HTTPError as err:
                    status, payload, kind = err.code, err.read(), err.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> dict:
        """The counts since the last take, split into the ConfigMap's own requests and the client's discovery."""
        counted = dict(self.requests)
        self.requests.clear()
        configmap = {method: count for (method, path), count in counted.items() if "/configmaps/" in path}
        discovery = sum(count for (method, path), count in counted.items() if "/configmaps/" not in path)
        return {"configmap": configmap, "discovery": discovery}


def test_batch_on_a_configmap_reads_once_and_writes_at_most_once(lab, core_api, namespace):
    """30 tenants through a counting proxy: the first run is one GET and one PUT of the ConfigMap, a re-run one GET
    and no write, whatever the number of tenants (plus the client's fixed discovery requests)."""
    make_configmap(core_api, namespace, "receive-tenants", lab=lab)
    proxy = CountingProxy(kube(lab)["api_server"], kube(lab)["ca_file"])
    try:
        store = {"configmap_namespace": namespace, "configmap_name": "receive-tenants", "host": proxy.url,
                 "api_key": kube(lab)["users"]["admin"]["token"]}
        tenants = [{"name": f"it-{n:02d}", "limits": {"request": {"series_limit": 100 + n}}} for n in range(30)]
        args = dict(store, hashring=RING, hashring_endpoints=node_endpoint(lab), tenants=tenants)
        counts = {}
        for step, check in (("check", True), ("first", False), ("rerun", False)):
            result = ok(ansible("thanos_tenants", args, check=check, diff=True))
            counts[step] = proxy.take()
            assert result["changed"] is (step != "rerun")
            assert len(result["diff"]) == (0 if step == "rerun" else 31)  # 30 tenants and the created hashring
        print(f"\nthanos_tenants, 30 tenants on a ConfigMap, requests to the API server: {counts}")
        assert counts["check"]["configmap"] == {"GET": 1}
        assert counts["first"]["configmap"] == {"GET": 1, "PUT": 1}
        assert counts["rerun"]["configmap"] == {"GET": 1}
        assert all(count["discovery"] <= 10 for count in counts.values()), counts
        assert (counts["rerun"]["configmap"]["GET"] + counts["rerun"]["discovery"]) / len(tenants) <= 1.2
    finally:
        proxy.server.shutdown()
    hashrings = json.loads(core_api.read_namespaced_config_map("receive-tenants", namespace).data["hashrings.json"])
    assert hashrings[0]["hashring"] == RING and hashrings[0]["tenants"] == [t["name"] for t in tenants]
