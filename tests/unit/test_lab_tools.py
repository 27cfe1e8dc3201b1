"""lab.tool_path / `python -m lab tool-path`, the gomod-files `directories` form, and the policy components.

Each test points MERIDIAN_LAB_CACHE at an empty temp dir, so nothing depends on (or touches) the real cache.
"""

from __future__ import annotations

import json
import pathlib

import pytest

import lab
from lab import build, cli
from lab.build import cache, gomod_files
from lab.build.progress import BuildLog
from lab.crds import CLUSTER_CRD_COMPONENTS, crd_documents
from lab.services import LabError

POLICY_COMPONENTS = ("opa", "gator", "cyclonus", "gatekeeper-crds", "cilium-crds")


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> pathlib.Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MERIDIAN_LAB_CACHE", str(root))
    monkeypatch.delenv("MERIDIAN_LAB_BINARY_GATOR", raising=False)
    return root


def fake_build(component: str, *, recipe: str | None = None) -> dict[str, pathlib.Path]:
    """Put a component's expected results into the (temp) cache and stamp them as built."""
    spec = build.load_versions()["components"][component]
    version_dir = build.component_dir(component)
    result = cache.expected_result(spec, version_dir)
    for path in result.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    cache.write_stamp(version_dir, {"component": component, "version": spec["version"], "seconds": 1.0,
                                    "recipe": recipe or cache.recipe_hash(spec)})
    return result


def test_tool_path_names_a_cached_binary(empty_cache):
    built = fake_build("gator")
    assert lab.tool_path("gator") == built["gator"].resolve()
    assert lab.tool_path("gator").is_absolute()


def test_tool_path_refuses_a_binary_that_is_not_built(empty_cache):
    with pytest.raises(LabError, match=r"gator \(gator v3\.23\.1\) is not in the lab build cache .*run make lab-build"):
        lab.tool_path("gator")


def test_tool_path_refuses_a_stale_build(empty_cache):
    # A stamp of another recipe (versions.yml entry changed since) is not a usable build.
    fake_build("gator", recipe="0000000000000000")
    with pytest.raises(LabError, match="run make lab-build"):
        lab.tool_path("gator")


def test_tool_path_refuses_unknown_names_and_data_files(empty_cache):
    with pytest.raises(LabError, match=r"'kubectl' is not a lab binary; known: .*gator.*opa"):
        lab.tool_path("kubectl")
    fake_build("cilium-crds")
    with pytest.raises(LabError, match="is not a lab binary"):
        lab.tool_path("network_policies_file")


def test_tool_path_honours_the_binary_override(empty_cache, tmp_path, monkeypatch):
    own = tmp_path / "my-gator"
    monkeypatch.setenv("MERIDIAN_LAB_BINARY_GATOR", str(own))
    assert lab.tool_path("gator") == own.resolve()


def test_cli_tool_path_prints_the_path(empty_cache, capsys):
    built = fake_build("opa")
    assert cli.main(["tool-path", "opa"]) == 0
    assert capsys.readouterr().out == f"{built['opa'].resolve()}\n"


def test_cli_tool_path_fails_with_the_fix_when_missing(empty_cache, capsys):
    assert cli.main(["tool-path", "cyclonus"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "run make lab-build" in captured.err
    assert not (empty_cache / "cyclonus").exists()  # nothing was built or even started


class _DownloadedModule(BuildLog):
    """A build log whose `go mod download -json` answers with a prepared module directory."""

    def __init__(self, path: pathlib.Path, module_dir: pathlib.Path):
        super().__init__(path)
        self.module_dir = module_dir

    def run(self, cmd, **kwargs):
        assert cmd[:4] == ["go", "mod", "download", "-json"]
        return 0, json.dumps({"Dir": str(self.module_dir)})


class _Quiet:
    def step(self, title): ...
    def info(self, message): ...
    def heartbeat(self): ...


def test_gomod_files_copies_every_file_of_a_directory(tmp_path):
    module = tmp_path / "module"
    crds = module / "charts" / "crds"
    crds.mkdir(parents=True)
    (crds / "a.yaml").write_text("kind: A\n")
    (crds / "b.yaml").write_text("kind: B\n")
    (crds / "nested").mkdir()  # not copied: the form is not recursive
    spec = {"kind": "gomod-files", "module": "example.com/m", "version": "v1.0.0",
            "directories": {"crds_dir": "charts/crds"}}
    version_dir = tmp_path / "cache" / "v1.0.0"
    version_dir.mkdir(parents=True)
    stale = version_dir / "files" / "crds_dir" / "removed-upstream.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    build_log = _DownloadedModule(version_dir / "build.log", module)
    try:
        result = gomod_files.build("example", spec, version_dir, build_log, _Quiet())
    finally:
        build_log.close()
    assert result == {"crds_dir": version_dir / "files" / "crds_dir"}
    assert sorted(p.name for p in result["crds_dir"].iterdir()) == ["a.yaml", "b.yaml"]
    assert (result["crds_dir"] / "b.yaml").read_text() == "kind: B\n"
    assert gomod_files.steps(spec) == ["go mod download example.com/m@v1.0.0", "copy charts/crds/ into the cache"]


def test_gomod_files_refuses_a_missing_directory(tmp_path):
    spec = {"kind": "gomod-files", "module": "example.com/m", "version": "v1.0.0",
            "directories": {"crds_dir": "charts/crds"}}
    (tmp_path / "module").mkdir()
    build_log = _DownloadedModule(tmp_path / "build.log", tmp_path / "module")
    try:
        with pytest.raises(build.BuildError, match="has no directory charts/crds"):
            gomod_files.build("example", spec, tmp_path, build_log, _Quiet())
    finally:
        build_log.close()


def test_an_empty_directory_result_is_not_cached(tmp_path):
    spec = {"kind": "gomod-files", "module": "example.com/m", "version": "v1.0.0",
            "directories": {"crds_dir": "charts/crds"}}
    cache.write_stamp(tmp_path, {"recipe": cache.recipe_hash(spec)})
    (tmp_path / "files" / "crds_dir").mkdir(parents=True)
    assert cache.cached_result(spec, tmp_path) is None
    (tmp_path / "files" / "crds_dir" / "a.yaml").write_text("kind: A\n")
    assert cache.cached_result(spec, tmp_path) == {"crds_dir": tmp_path / "files" / "crds_dir"}


def test_crd_documents_reads_a_directory(tmp_path):
    (tmp_path / "one.yaml").write_text("kind: CustomResourceDefinition\nmetadata: {name: ones.example.com}\n")
    (tmp_path / "two.yaml").write_text("---\nkind: ConfigMap\n---\n"
                                       "kind: CustomResourceDefinition\nmetadata: {name: twos.example.com}\n")
    (tmp_path / "notes.txt").write_text("kind: CustomResourceDefinition\n")
    assert [doc["metadata"]["name"] for doc in crd_documents(tmp_path)] == ["ones.example.com", "twos.example.com"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabError, match="holds no CustomResourceDefinition"):
        crd_documents(tmp_path / "empty")


def test_policy_components_are_regular_components():
    versions = build.load_versions()
    for name in POLICY_COMPONENTS:
        assert name in build.COMPONENTS, f"{name} is not built by `make lab-build`"
        assert name not in build.optional_components(versions)
    components = versions["components"]
    assert components["opa"]["version"] == "v1.22.4"
    assert components["gator"]["module"] == components["gatekeeper-crds"]["module"]
    assert components["gator"]["version"] == components["gatekeeper-crds"]["version"] == "v3.23.1"
    assert components["gatekeeper-crds"]["directories"] == {"crds_dir": "charts/gatekeeper/crds"}
    assert sorted(components["cilium-crds"]["files"].values()) == [
        f"pkg/k8s/apis/cilium.io/client/crds/v2/{name}.yaml"
        for name in ("ciliumclusterwidenetworkpolicies", "ciliumnetworkpolicies")]
    assert set(CLUSTER_CRD_COMPONENTS) == {"gatekeeper-crds", "cilium-crds"}


def test_every_lab_binary_has_a_version_check():
    """A binary the tests run must prove at build time that it is the pinned version."""
    for name, spec in build.load_versions()["components"].items():
        if spec["kind"] == "go":
            assert set(spec.get("version_check") or {}) == set(spec["binaries"]), name


def _status_rows(state: str) -> list[dict]:
    return [{"service": "moto", "region": "global", "state": "healthy"},
            {"service": "kube-apiserver-us-east-1", "region": "us-east-1", "state": state}]


def test_status_line_per_region_says_when_crds_are_missing(monkeypatch, tmp_path, capsys):
    from lab import crds
    from lab.runtime import Lab
    from lab.state import LabPaths

    answers = iter([{"gatekeeper-crds": (17, 17), "cilium-crds": (2, 2)},
                    {"gatekeeper-crds": (16, 17), "cilium-crds": (2, 2)}])
    monkeypatch.setattr(crds, "cluster_crd_status", lambda kubeconfig: next(answers))
    runtime = Lab(LabPaths(tmp_path))
    cli._print_crd_status(runtime, _status_rows("healthy"))
    cli._print_crd_status(runtime, _status_rows("healthy"))
    cli._print_crd_status(runtime, _status_rows("stopped"))
    assert capsys.readouterr().out.splitlines() == [
        "crds us-east-1: gatekeeper-crds 17/17, cilium-crds 2/2 Established",
        "crds us-east-1: gatekeeper-crds 16/17, cilium-crds 2/2 Established (run make lab-up)",
        "crds us-east-1: unknown, the API server is stopped",
    ]


def test_every_up_installs_the_policy_crds_into_each_target_api_server(monkeypatch, tmp_path):
    from lab import crds
    from lab.runtime import Lab
    from lab.state import LabPaths

    from lab.services import argocd

    calls, argocd_calls = [], []
    monkeypatch.setattr(crds, "install_cluster_crds",
                        lambda kubeconfig: calls.append(kubeconfig) or {"gatekeeper-crds": ["a"] * 17})
    monkeypatch.setattr(argocd, "install_argocd_base",
                        lambda kubeconfig: argocd_calls.append(kubeconfig) or ["3 CRDs Established"])
    lines = []
    runtime = Lab(LabPaths(tmp_path), out=lines.append)
    runtime._install_cluster_crds(runtime.services)
    assert calls == [str(tmp_path / "kube" / region / "admin.kubeconfig") for region in ("us-east-1", "eu-west-1")]
    # Argo CD's CRDs and base objects go into the hub region's API server only.
    assert argocd_calls == [str(tmp_path / "kube" / "us-east-1" / "admin.kubeconfig")]
    assert [line.split()[:3] for line in lines] == [["argocd-base-us-east-1", "applied", "3"],
                                                    ["crds-us-east-1", "applied", "gatekeeper-crds"],
                                                    ["crds-eu-west-1", "applied", "gatekeeper-crds"]]
    calls.clear()
    argocd_calls.clear()
    runtime._install_cluster_crds([runtime.service("moto"), runtime.service("keycloak")])
    assert calls == argocd_calls == []  # `lab start moto` touches no API server
