"""What every lab service provides, and the context they share."""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lab.state import REPO_ROOT, LabPaths


class LabError(Exception):
    """A lab operation failed; the message says what and where to look."""


@dataclass
class LabContext:
    """State shared by the services of one lab: paths, secrets, resolved binaries."""

    paths: LabPaths
    secrets: dict[str, str]
    regions: list[str]
    timeout_scale: float = 1.0
    _binaries: dict[str, dict[str, Path]] = field(default_factory=dict)

    def binaries(self, component: str) -> dict[str, Path]:
        """Paths of a component's binaries, built into the cache on first use."""
        if component not in self._binaries:
            try:
                from lab import build
            except ImportError as err:  # the lab/build/ package is another module's job
                raise LabError(f"lab.build is not importable: {err}") from err
            try:
                built = build.ensure_built(component)
            except Exception as err:  # noqa: BLE001 - any build failure is reported as one
                raise LabError(f"building {component} failed: {err}") from err
            resolved = {name: Path(path) for name, path in built.items()}
            # MERIDIAN_LAB_BINARY_<NAME>=/path runs a locally built binary instead
            # (e.g. MERIDIAN_LAB_BINARY_KUBE_APISERVER), for trying a fix or a version.
            for name in resolved:
                override = os.environ.get("MERIDIAN_LAB_BINARY_" + name.upper().replace("-", "_"))
                if override:
                    resolved[name] = Path(override)
            self._binaries[component] = resolved
        return self._binaries[component]

    def python(self, module: str = "moto") -> str:
        """An interpreter that can import ``module``: this one, else the repo's venv."""
        if importlib.util.find_spec(module) is not None:
            return sys.executable
        venv_python = REPO_ROOT / ".venv" / "bin" / "python"
        if venv_python.exists():
            return str(venv_python)
        raise LabError(f"{module} is not installed in this interpreter nor in .venv (make bootstrap)")

    def base_env(self) -> dict[str, str]:
        """Environment for a server: ours, minus variables that would redirect clients."""
        env = dict(os.environ)
        for name in ("KUBECONFIG", "BAO_ADDR", "BAO_TOKEN", "VAULT_ADDR", "VAULT_TOKEN"):
            env.pop(name, None)
        env["MERIDIAN_LAB_STATE_DIR"] = str(self.paths.root)
        return env


class Service:
    """One server process of the lab.

    Subclasses set the class attributes and implement `argv` and `healthy`; `prepare`
    writes whatever files the server reads (called on every `up`, so it must be cheap
    and idempotent); `describe` contributes to lab.json.
    """

    kind: str = ""
    component: str | None = None  # lab.build component providing the binary
    startup_timeout: float = 60.0
    stop_timeout: float = 15.0

    def __init__(self, region: str | None = None) -> None:
        self.region = region
        self.name = f"{self.kind}-{region}" if region else self.kind
        self.depends_on: tuple[str, ...] = ()

    # --- to implement -------------------------------------------------------------
    def endpoint(self) -> str:
        raise NotImplementedError

    def marker(self) -> str:
        """A string that appears in this server's command line and no other's."""
        raise NotImplementedError

    def argv(self, ctx: LabContext) -> list[str]:
        raise NotImplementedError

    def healthy(self, ctx: LabContext) -> bool:
        raise NotImplementedError

    # --- optional -----------------------------------------------------------------
    def prepare(self, ctx: LabContext) -> None:
        """Write config files and directories (idempotent, no binaries needed)."""

    def env(self, ctx: LabContext) -> dict[str, str]:
        return ctx.base_env()

    def before_start(self, ctx: LabContext) -> str | None:
        """Cluster objects the server needs before it starts (its dependencies are ready); a note for `up`."""
        return None

    def cwd(self, ctx: LabContext) -> Path:
        path = ctx.paths.data(self.name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def ports(self) -> list[int]:
        """Ports this server listens on (checked free before it starts)."""
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
