"""The AWX job templates as code (playbooks/vars/awx_job_templates.yml, created by playbooks/awx.yml), without a server.

What AWX would be given is read from the playbook's own plan (awx_plan_only), so these tests check what the playbook
computes, with the real topology plugin, for dev, stage and prod.
"""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml

from tests.support.ansible import REPO, run_ansible

DATA = yaml.safe_load((REPO / "playbooks" / "vars" / "awx_job_templates.yml").read_text())
TEMPLATES = {template["name"]: template for template in DATA["awx_job_templates"]}
ENVIRONMENTS = ("dev", "stage", "prod")
PLAN_INPUTS = ("-e", "awx_project_scm_url=https://git.example.invalid/meridian/observability.git",
               "-e", "awx_execution_environment_image=registry.example.invalid/meridian/observability-ee:0.1.0")
# No AWX login and no credential inputs unless a test sets them.
BARE_ENV = {name: "" for name in ("CONTROLLER_HOST", "CONTROLLER_OAUTH_TOKEN", "CONTROLLER_USERNAME", "CONTROLLER_PASSWORD",
                                  "MERIDIAN_AWX_AWS_ACCESS_KEY_ID", "MERIDIAN_AWX_AWS_SECRET_ACCESS_KEY",
                                  "MERIDIAN_AWX_SCM_URL", "MERIDIAN_AWX_EE_IMAGE", "MERIDIAN_KEYCLOAK_ADMIN_PASSWORD",
                                  "VAULT_TOKEN")}


def playbook_chain(playbook: pathlib.Path) -> list[pathlib.Path]:
    """The playbook and every playbook it imports, depth first."""
    chain = [playbook]
    for play in yaml.safe_load(playbook.read_text()):
        if "ansible.builtin.import_playbook" in play:
            chain += playbook_chain(playbook.parent / play["ansible.builtin.import_playbook"])
    return chain


def role_entry_points(playbook: pathlib.Path) -> set[tuple[str, str]]:
    """(role, entry point) of every role the playbook's chain runs: `roles:` and include_role with tasks_from."""
    found = set()
    for path in playbook_chain(playbook):
        for play in yaml.safe_load(path.read_text()):
            for role in play.get("roles", []):
                found.add((role["role"].split(".")[-1], "main"))
            for task in play.get("tasks", []):
                include = task.get("ansible.builtin.include_role")
                if include:
                    found.add((include["name"].split(".")[-1], include.get("tasks_from", "main.yml").removesuffix(".yml")))
    return found


def declared_options(role: str, entry_point: str) -> set[str]:
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return set(specs.get(entry_point, {}).get("options", {}))


def role_files_mentioning(variable: str) -> list[str]:
    return [str(path.relative_to(REPO)) for path in sorted((REPO / "roles").rglob("*"))
            if path.is_file() and path.suffix in {".yml", ".j2"} and variable in path.read_text()]


def topology_regions(environment: str) -> list[str]:
    """Hub first, then the spokes, as the topology plugin groups them (ansible-inventory --list)."""
    listing = json.loads(run_ansible("ansible-inventory", "-i", f"inventories/{environment}", "--list").stdout)
    regions = listing["hub"]["hosts"] + listing["spokes"]["hosts"]
    assert sorted(regions) == sorted(listing[f"env_{environment}"]["hosts"])
    return regions


def write_plan(environment: str, plan_file: pathlib.Path, *extra: str, env: dict | None = None):
    return run_ansible("ansible-playbook", "playbooks/awx.yml", "-i", f"inventories/{environment}",
                       "-e", "awx_plan_only=true", "-e", f"awx_plan_file={plan_file}", *extra,
                       env=BARE_ENV | (env or {}), check=False)


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def plan(request, tmp_path_factory):
    """The plan playbooks/awx.yml writes for one environment, with that environment's regions."""
    plan_file = tmp_path_factory.mktemp("awx") / f"{request.param}.json"
    completed = write_plan(request.param, plan_file, *PLAN_INPUTS)
    assert completed.returncode == 0, completed.stdout[-4000:]
    return json.loads(plan_file.read_text()) | {"topology_regions": topology_regions(request.param)}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_job_template_runs_a_playbook_of_this_repository(name):
    playbook = REPO / TEMPLATES[name]["playbook"]
    assert playbook.is_file(), f"{name}: {playbook} does not exist"
    assert yaml.safe_load(playbook.read_text()), f"{name}: {playbook} has no plays"


@pytest.mark.parametrize(("name", "variable"), [(template["name"], question["variable"])
                                                for template in DATA["awx_job_templates"] for question in template["survey"]])
def test_every_survey_variable_is_declared_where_it_is_consumed(name, variable):
    playbook = REPO / TEMPLATES[name]["playbook"]
    chain_text = "".join(path.read_text() for path in playbook_chain(playbook))
    # The playbook itself must use the answer (destroy.yml's guard, site.yml's host selection), or it is decorative.
    assert variable in chain_text, f"{name}: no playbook of {playbook.name}'s chain reads {variable}"
    declaring = {(role, entry) for role, entry in role_entry_points(playbook) if variable in declared_options(role, entry)}
    if declaring:
        return
    # Not declared by any role the job runs, so no role may read it either: it belongs to the playbooks alone.
    assert not role_files_mentioning(variable), (
        f"{name}: {variable} is read by {role_files_mentioning(variable)} but declared in no argument spec of "
        f"{sorted(role_entry_points(playbook))}")


def test_destroy_region_is_declared_by_the_entry_points_destroy_yml_includes():
    entry_points = role_entry_points(REPO / "playbooks" / "destroy.yml")
    assert entry_points == {("eks", "destroy"), ("network", "destroy")}
    for role, entry in entry_points:
        assert "destroy_region" in declared_options(role, entry), f"{role}:{entry} does not declare destroy_region"


def test_destroy_survey_is_required_and_has_no_default():
    (question,) = TEMPLATES["destroy"]["survey"]
    assert question["variable"] == "destroy_region"
    assert question["type"] == "text"
    assert question["required"] is True
    assert not question.get("default"), "a default would answer the confirmation for the operator"
    assert TEMPLATES["destroy"]["ask_limit_on_launch"] is True, "destroy.yml's guard needs the limit"


def test_drift_runs_in_check_mode_with_diff():
    assert TEMPLATES["drift"]["job_type"] == "check"
    assert TEMPLATES["drift"]["diff_mode"] is True
    assert TEMPLATES["drift"]["playbook"] == "playbooks/drift.yml"


def test_site_survey_choices_are_the_environments_regions(plan):
    assert plan["regions"] == plan["topology_regions"]
    (site,) = [template for template in plan["job_templates"] if template["name"] == "site"]
    (question,) = site["survey"]
    assert question["variable"] == "site_region" and question["required"] is True
    assert question["choices"] == plan["topology_regions"]
    assert site["name_in_awx"] == f"meridian-{plan['environment']} site"


def test_workflow_runs_the_hub_before_every_spoke(plan):
    hub, *spokes = plan["topology_regions"]
    nodes = {node["identifier"]: node for node in plan["workflow"]["nodes"]}
    assert sorted(node["extra_data"]["site_region"] for node in nodes.values()) == sorted(plan["topology_regions"])
    assert {node["unified_job_template"]["name"] for node in nodes.values()} == {f"meridian-{plan['environment']} site"}
    children = {identifier: [child["identifier"] for child in node["related"]["success_nodes"]] for identifier, node in nodes.items()}
    hub_node = f"site-{hub}"
    assert nodes[hub_node]["extra_data"] == {"site_region": hub}
    assert sorted(children[hub_node]) == sorted(f"site-{spoke}" for spoke in spokes)
    # The hub is the only root, and spokes start nothing: each spoke runs only after the hub succeeded.
    assert all(hub_node not in targets for targets in children.values())
    assert all(children[f"site-{spoke}"] == [] for spoke in spokes)


def test_every_job_template_gets_only_known_credentials(plan):
    known = {credential["name"] for credential in plan["credentials"]}
    for template in plan["job_templates"]:
        assert template["credentials_in_awx"] and set(template["credentials_in_awx"]) <= known, template["name"]
    assert plan["inventory"]["source_path"] == f"inventories/{plan['environment']}/topology.yml"
    assert (REPO / plan["inventory"]["source_path"]).is_file()


def test_awx_playbook_refuses_a_missing_scm_url_before_anything(tmp_path):
    plan_file = tmp_path / "plan.json"
    completed = write_plan("dev", plan_file, "-e", "awx_execution_environment_image=registry.example.invalid/ee:1")
    assert completed.returncode != 0
    assert "awx_project_scm_url must be the git URL" in completed.stdout
    assert not plan_file.exists()


def test_awx_playbook_refuses_to_call_awx_without_its_address(tmp_path):
    completed = run_ansible("ansible-playbook", "playbooks/awx.yml", "-i", "inventories/dev", *PLAN_INPUTS,
                            env=BARE_ENV, check=False)
    assert completed.returncode != 0
    assert "Set CONTROLLER_HOST to the AWX URL" in completed.stdout
    assert "TASK [Organization]" not in completed.stdout


def test_awx_playbook_refuses_missing_credential_inputs(tmp_path):
    completed = run_ansible("ansible-playbook", "playbooks/awx.yml", "-i", "inventories/dev", *PLAN_INPUTS, check=False,
                            env=BARE_ENV | {"CONTROLLER_HOST": "http://127.0.0.1:9", "CONTROLLER_OAUTH_TOKEN": "unused"})
    assert completed.returncode != 0
    assert "need MERIDIAN_AWX_AWS_ACCESS_KEY_ID and MERIDIAN_AWX_AWS_SECRET_ACCESS_KEY" in completed.stdout
    assert "TASK [Organization]" not in completed.stdout


def test_awx_playbook_with_every_input_reaches_awx_and_logs_no_secret(tmp_path):
    """The twin of the refusals: everything set, the first AWX call is made (and fails: no server listens on port 9)."""
    secrets = {"MERIDIAN_AWX_AWS_ACCESS_KEY_ID": "AKIASENTINELKEYID", "MERIDIAN_AWX_AWS_SECRET_ACCESS_KEY": "sentinel-aws-secret",
               "MERIDIAN_KEYCLOAK_ADMIN_PASSWORD": "sentinel-keycloak-password", "VAULT_TOKEN": "sentinel-vault-token"}
    completed = run_ansible("ansible-playbook", "-vv", "playbooks/awx.yml", "-i", "inventories/dev", *PLAN_INPUTS, check=False,
                            env=BARE_ENV | secrets | {"CONTROLLER_HOST": "http://127.0.0.1:9", "CONTROLLER_OAUTH_TOKEN": "sentinel-oauth"})
    assert completed.returncode != 0
    assert "TASK [Organization]" in completed.stdout
    for value in [*secrets.values(), "sentinel-oauth"]:
        assert value not in completed.stdout + completed.stderr
