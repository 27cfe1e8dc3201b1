"""Where the lab keeps its runtime state, and the secrets it generates once.

Everything lives under `<repo>/.lab/` (git-ignored), or under $MERIDIAN_LAB_STATE_DIR
when set:

    .lab/lab.json  .lab/lab.env        endpoints and credentials (mode 0600)
    .lab/secrets.json                  generated secrets (mode 0600)
    .lab/logs/<service>.log            each server's stdout and stderr
    .lab/pids/<service>.pid            what `down` may stop
    .lab/data/<service>/               each server's data directory
    .lab/pki/<region>/                 cluster CA, serving and client certificates
    .lab/kube/<region>/*.kubeconfig    admin, alice, bob, kube-controller-manager
    .lab/thanos/<region>/              hashrings.json, limits.yaml, objstore.yaml
    .lab/prometheus/<region>/          prometheus.yml
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from lab.files import write_private

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_state_dir() -> Path:
    override = os.environ.get("MERIDIAN_LAB_STATE_DIR")
    return Path(override).resolve() if override else REPO_ROOT / ".lab"


@dataclass(frozen=True)
class LabPaths:
    """Paths inside one lab state directory."""

    root: Path

    @classmethod
    def default(cls) -> LabPaths:
        return cls(default_state_dir())

    @property
    def lab_json(self) -> Path:
        return self.root / "lab.json"

    @property
    def lab_env(self) -> Path:
        return self.root / "lab.env"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    def log(self, service: str) -> Path:
        return self.root / "logs" / f"{service}.log"

    def pid(self, service: str) -> Path:
        return self.root / "pids" / f"{service}.pid"

    def data(self, service: str) -> Path:
        return self.root / "data" / service

    def pki(self, region: str) -> Path:
        return self.root / "pki" / region

    def kube(self, region: str) -> Path:
        return self.root / "kube" / region

    def kubeconfig(self, region: str, user: str) -> Path:
        return self.kube(region) / f"{user}.kubeconfig"

    def thanos(self, region: str) -> Path:
        return self.root / "thanos" / region

    def prometheus(self, region: str) -> Path:
        return self.root / "prometheus" / region

    def ensure(self) -> None:
        for sub in ("logs", "pids", "data", "pki", "kube", "thanos", "prometheus"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)


# Secret name -> generator. Adding a name here adds it to an existing secrets file on
# the next `up` without touching the others.
def _token() -> str:
    return secrets.token_urlsafe(24)


def secret_names(regions: list[str]) -> list[str]:
    names = ["keycloak_admin_password"]
    for region in regions:
        names += [
            f"openbao_root_token.{region}",
            f"kube_token.{region}.admin",
            f"kube_token.{region}.alice",
            f"kube_token.{region}.bob",
        ]
    return names


def load_secrets(paths: LabPaths, regions: list[str], *, create: bool = True) -> dict[str, str]:
    """Read .lab/secrets.json, generating any missing secret (random, never hard-coded)."""
    current: dict[str, str] = {}
    if paths.secrets_file.exists():
        current = json.loads(paths.secrets_file.read_text())
    missing = [name for name in secret_names(regions) if name not in current]
    if missing and create:
        for name in missing:
            current[name] = _token()
        write_private(paths.secrets_file, json.dumps(current, indent=2, sort_keys=True) + "\n")
    return current
