"""What the lab builds: lab/versions.yml, the build order, and the error every step raises."""

from __future__ import annotations

import pathlib

LAB_DIR = pathlib.Path(__file__).resolve().parent.parent
REPO_ROOT = LAB_DIR.parent
VERSIONS_FILE = LAB_DIR / "versions.yml"

#: Build order: longest first, so a cold `python -m lab.build` starts with it.
COMPONENTS = ["kubernetes", "argocd", "etcd", "thanos", "gator", "prometheus", "opa", "cyclonus", "kustomize", "keycloak",
              "openbao", "envoy", "redis", "istio-crds", "gatekeeper-crds", "cilium-crds", "argocd-crds"]


class BuildError(RuntimeError):
    """A component could not be built or verified. ``log_path`` holds details."""

    def __init__(self, message: str, log_path: pathlib.Path | None = None):
        super().__init__(message)
        self.log_path = log_path

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of the build log, for the error report."""
        if not self.log_path or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def load_versions(path: pathlib.Path | str | None = None) -> dict:
    """Parse lab/versions.yml and return it as a dict."""
    import yaml  # PyYAML; imported lazily so `import lab.build` never fails

    versions_path = pathlib.Path(path) if path else VERSIONS_FILE
    with open(versions_path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict) or "components" not in data:
        raise BuildError(f"{versions_path}: no 'components' mapping")
    return data


def optional_components(versions: dict | None = None) -> list[str]:
    """Components built only on request (`--optional` or by name)."""
    versions = versions or load_versions()
    return [name for name in (versions.get("optional_components") or [])
            if name in versions["components"]]


def component_spec(component: str, versions: dict | None = None) -> dict:
    """The versions.yml entry of ``component``."""
    versions = versions or load_versions()
    try:
        return versions["components"][component]
    except KeyError:
        known = ", ".join(versions["components"])
        raise BuildError(f"unknown component {component!r} (known: {known})") from None
