"""Every role keeps the collection's role contract: argument specs, matching defaults, a preflight, FQCN tasks."""

from __future__ import annotations

import pathlib

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (REPO / "roles").iterdir() if path.is_dir())
LAYERS = ["network", "eks", "argocd", "observability", "istio", "vault", "keycloak", "policy", "tenant"]


def test_every_layer_has_a_role():
    assert set(LAYERS) <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_agree_with_argument_specs(role):
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    assert set(defaults) == {name for name, option in spec.items() if "default" in option}
    for name, option in spec.items():
        assert name.startswith(f"{role}_"), f"{name} is not prefixed with {role}_"
        assert option.get("description"), f"{name} has no description"
        if "default" in option:
            assert defaults[name] == option["default"], f"{role}: default of {name} differs between spec and defaults/main.yml"


@pytest.mark.parametrize("role", ROLES)
def test_main_runs_preflight_first(role):
    tasks = yaml.safe_load((REPO / "roles" / role / "tasks" / "main.yml").read_text())
    assert tasks[0]["ansible.builtin.import_tasks"] == "preflight.yml"
    preflight = yaml.safe_load((REPO / "roles" / role / "tasks" / "preflight.yml").read_text())
    assert preflight and all("ansible.builtin.assert" in task for task in preflight)
