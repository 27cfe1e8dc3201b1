"""The lab pieces behind Argo CD and the global query: the Go wrapper with a toolchain pin and a multi-call main,
the `deb` build kind, the hub services' ports and names, and what lab.json and lab.env say about them.

The deb tests run the real `dpkg -x` on packages built here with `dpkg-deb`; only `apt-get download` is a stub on
PATH (it copies those packages), so nothing is fetched. The generated Go is parsed by the real gofmt.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

from lab import build
from lab.build import deb, go
from lab.build.progress import BuildLog, Progress
from lab.runtime import Lab, render_env
from lab.services.argocd import (
    ArgocdApplicationControllerService,
    ArgocdApplicationSetControllerService,
    ArgocdRepoServerService,
)
from lab.state import LabPaths
from lab.topology import (
    HUB_PORT_OFFSETS,
    HUB_REGION,
    KEYCLOAK_HTTP_PORT,
    KEYCLOAK_MANAGEMENT_PORT,
    MOTO_PORT,
    REDIS_PORT,
    REGIONS,
    hub_port,
    region_ports,
    service_names,
)

ARGOCD_GOMOD = """\
module github.com/argoproj/argo-cd/v3

go 1.27.0

require (
\tgithub.com/argoproj/argo-cd/gitops-engine/v3 v3.6.1 // Tagged as gitops-engine/vX.Y.Z at release time
\tk8s.io/api v0.37.0
)

replace (
\tgithub.com/golang/protobuf => github.com/golang/protobuf v1.5.4

\t// Avoid CVE-2022-3064
\tgopkg.in/yaml.v2 => gopkg.in/yaml.v2 v2.4.0

\tk8s.io/api => k8s.io/api v0.37.0
)

replace github.com/argoproj/argo-cd/gitops-engine/v3 => ./gitops-engine
"""


@pytest.fixture(scope="module")
def argocd_spec() -> dict:
    return build.load_versions()["components"]["argocd"]


def test_wrapper_gomod_keeps_go_127_and_the_published_replaces_but_not_the_local_gitops_engine(argocd_spec):
    gomod = go.wrapper_gomod("argocd", argocd_spec, {argocd_spec["module"]: ("v3.6.1", ARGOCD_GOMOD)})
    directives = go.go_directives(gomod)
    assert directives["go"] == ["1.27.0"]
    assert directives["require"] == ["github.com/argoproj/argo-cd/v3 v3.6.1"]
    assert directives["replace"] == ["github.com/golang/protobuf => github.com/golang/protobuf v1.5.4",
                                     "gopkg.in/yaml.v2 => gopkg.in/yaml.v2 v2.4.0",
                                     "k8s.io/api => k8s.io/api v0.37.0"]
    assert "gitops-engine" not in gomod
    assert "tool" not in directives  # the only binary is the generated ./cmd/argocd


def test_toolchain_pin_replaces_gotoolchain_local(argocd_spec):
    assert go.go_env(argocd_spec)["GOTOOLCHAIN"] == "go1.27.3"
    assert go.go_env({"cgo": False})["GOTOOLCHAIN"] == "local"
    # A pinned component skips the go_min check: the machine's Go only has to fetch the pinned one.
    go.check_toolchain({"toolchain": {"go_min": "99.0"}}, argocd_spec)
    with pytest.raises(build.BuildError, match="older than go 99.0"):
        go.check_toolchain({"toolchain": {"go_min": "99.0"}}, {"cgo": False})


@pytest.mark.skipif(not shutil.which("gofmt"), reason="gofmt is not on PATH")
def test_multicall_main_dispatches_on_the_binary_name_and_is_valid_go(argocd_spec, tmp_path):
    multicall = argocd_spec["multicall_mains"]["argocd"]
    source = go.multicall_main(multicall)
    for name, package in multicall["commands"].items():
        assert f'"{package}"' in source
        assert f'case "{name}":' in source
    assert 'os.Getenv("ARGOCD_BINARY_NAME")' in source
    assert 'versioned "github.com/argoproj/argo-cd/v3/common"' in source
    main_go = tmp_path / "main.go"
    main_go.write_text(source)
    parsed = subprocess.run(["gofmt", "-l", "-e", str(main_go)], capture_output=True, text=True, check=False)
    assert parsed.returncode == 0 and not parsed.stderr, parsed.stderr
    assert parsed.stdout == ""  # already gofmt-formatted


def test_the_services_run_the_commands_the_binary_links(argocd_spec):
    commands = set(argocd_spec["multicall_mains"]["argocd"]["commands"])
    assert {ArgocdRepoServerService.binary_name, ArgocdApplicationControllerService.binary_name,
            ArgocdApplicationSetControllerService.binary_name} == commands
    assert argocd_spec["binaries"] == {"argocd": "./cmd/argocd"}


def _deb(tmp_path: pathlib.Path, package: str, files: dict[str, str]) -> pathlib.Path:
    """A real .deb (dpkg-deb --build) holding ``files`` (path -> shell script body)."""
    root = tmp_path / "pkgroot" / package
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(f"Package: {package}\nVersion: 1.0\nArchitecture: all\n"
                                             "Maintainer: lab <lab@test.invalid>\nDescription: test\n")
    for relative, body in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        path.chmod(0o755)
    out = tmp_path / "built" / f"{package}_1.0_all.deb"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)], check=True,
                   capture_output=True)
    return out


@pytest.fixture
def fake_apt(tmp_path, monkeypatch) -> pathlib.Path:
    """`apt-get download` copies locally built packages into its working directory and logs its arguments."""
    if not (shutil.which("dpkg") and shutil.which("dpkg-deb")):
        pytest.skip("dpkg is not available")
    program = ('#!/bin/sh\necho "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"\necho "demo-server v=1.2.3"\n')
    _deb(tmp_path, "demo-server", {"usr/bin/demo-server": program})
    _deb(tmp_path, "libdemo", {"usr/lib/demo/libdemo.so.1": "not really a library\n"})
    stub_dir = tmp_path / "stubs"
    stub_dir.mkdir()
    stub = stub_dir / "apt-get"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/apt-get.args\ncp {tmp_path}/built/*.deb .\n')
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


DEMO_SPEC = {"kind": "deb", "version": "1.0", "packages": {"demo-server": "1.0", "libdemo": "1.0"},
             "library_dir": "usr/lib/demo", "binaries": {"demo-server": "usr/bin/demo-server"},
             "version_check": {"demo-server": {"args": ["--version"], "expect": "demo-server v=1.2.3"}}}


def test_deb_kind_downloads_the_pins_unpacks_them_and_wraps_each_binary(fake_apt):
    version_dir = fake_apt / "cache" / "demo" / "1.0"
    version_dir.mkdir(parents=True)
    log = BuildLog(version_dir / "build.log")
    lines = []
    result = deb.build("demo", DEMO_SPEC, version_dir, log,
                       Progress("demo", deb.steps(DEMO_SPEC), log=lines.append, build_log=log, last_seconds=None))
    log.close()
    assert (fake_apt / "apt-get.args").read_text().split() == ["download", "demo-server=1.0", "libdemo=1.0"]
    assert result == deb.result_paths(DEMO_SPEC, version_dir)
    assert (result["library_dir"] / "libdemo.so.1").is_file()  # unpacked by the real dpkg -x
    ran = subprocess.run([str(result["demo-server"])], capture_output=True, text=True, check=True,
                         env={**os.environ, "LD_LIBRARY_PATH": "/elsewhere"})
    assert f"LD_LIBRARY_PATH={result['library_dir']}:/elsewhere" in ran.stdout
    assert not list(version_dir.glob(".tmp-*"))  # nothing half-built left behind
    assert any("check versions" in line for line in lines)


def test_deb_kind_refuses_a_download_that_misses_a_package(fake_apt):
    version_dir = fake_apt / "cache" / "demo" / "1.0"
    version_dir.mkdir(parents=True)
    spec = DEMO_SPEC | {"packages": DEMO_SPEC["packages"] | {"libmissing": "1.0"}}
    log = BuildLog(version_dir / "build.log")
    with pytest.raises(build.BuildError, match="fetched 2 file"):
        deb.build("demo", spec, version_dir, log, Progress("demo", deb.steps(spec), log=lambda _: None, build_log=log, last_seconds=None))
    log.close()
    assert not (version_dir / "bin").exists()


def test_redis_pin_has_no_epoch_in_its_cache_path():
    spec = build.load_versions()["components"]["redis"]
    # A ':' in the cache path would split LD_LIBRARY_PATH in the wrappers.
    assert ":" not in str(build.component_dir("redis"))
    assert all(version.endswith(spec["version"]) for package, version in spec["packages"].items()
               if package.startswith("redis"))


def test_hub_ports_are_in_the_hub_block_and_collide_with_nothing():
    regional = {port for region in REGIONS for port in region_ports(region).as_dict().values()}
    hub = {hub_port(key) for key in HUB_PORT_OFFSETS}
    assert len(hub) == len(HUB_PORT_OFFSETS)
    assert all(21000 <= port < 22000 for port in hub) and HUB_REGION == "us-east-1"
    assert not hub & (regional | {MOTO_PORT, KEYCLOAK_HTTP_PORT, KEYCLOAK_MANAGEMENT_PORT, REDIS_PORT})


def test_service_names_match_the_services_and_hub_services_have_no_region_suffix(tmp_path):
    lab = Lab(LabPaths(tmp_path))
    assert [service.name for service in lab.services] == service_names()
    for name in ("argocd-repo-server", "argocd-application-controller", "argocd-applicationset-controller",
                 "thanos-query-global"):
        assert lab.service(name).region == HUB_REGION
    assert lab.service("redis").region is None
    assert set(lab.service("argocd-application-controller").depends_on) == {
        "kube-apiserver-us-east-1", "redis", "argocd-repo-server"}
    assert set(lab.service("argocd-applicationset-controller").depends_on) == {
        "kube-apiserver-us-east-1", "argocd-repo-server", "argocd-application-controller"}
    assert set(lab.service("thanos-query-global").depends_on) == {"thanos-query-us-east-1", "thanos-query-eu-west-1"}


def test_lab_json_and_env_describe_argocd_and_the_global_query(tmp_path):
    lab = Lab(LabPaths(tmp_path))
    description = lab.describe(lab.context(create_secrets=True))
    git_dir = tmp_path / "gitops" / "meridian.git"
    assert description["argocd"] == {
        "namespace": "argocd", "control_region": "us-east-1", "repo_url": git_dir.as_uri(),
        "git_dir": str(git_dir), "repo_server": "127.0.0.1:21081", "redis": "127.0.0.1:16379"}
    assert description["thanos_query_global"] == "http://127.0.0.1:21906"
    env = render_env(description)
    assert f"export LAB_ARGOCD_REPO_URL={git_dir.as_uri()}\n" in env
    assert "export LAB_THANOS_QUERY_GLOBAL_URL=http://127.0.0.1:21906\n" in env


@pytest.mark.skipif(not shutil.which("git"), reason="git is not on PATH")
def test_prepare_creates_the_bare_gitops_repository_once(tmp_path):
    from lab.services.argocd import ensure_git_repository

    repo = tmp_path / "gitops" / "meridian.git"
    assert ensure_git_repository(repo) is True
    head = subprocess.run(["git", "symbolic-ref", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    assert head.stdout.strip() == "refs/heads/main"
    assert ensure_git_repository(repo) is False  # an existing repository (the role's content) is left alone


def test_a_replace_from_versions_yml_wins_over_the_upstream_one():
    spec = build.load_versions()["components"]["kustomize"]
    upstream = "module sigs.k8s.io/kustomize/kustomize/v5\n\ngo 1.27.0\n\nreplace k8s.io/kube-openapi => ./nowhere\n"
    gomod = go.wrapper_gomod("kustomize", spec, {spec["module"]: (spec["version"], upstream)})
    assert go.go_directives(gomod)["replace"] == [
        f"k8s.io/kube-openapi => {spec['replaces']['k8s.io/kube-openapi']}"]
    assert go.go_env(spec)["GOTOOLCHAIN"] == "go1.27.3"
