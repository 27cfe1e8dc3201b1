"""delivery.branches: which environment a branch deploys, preview environments, and the destroy guards.

Every refusal stands next to a twin that is accepted, so no test passes because everything is refused.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

from delivery import branches
from delivery.branches import BranchError
from tests.support.ansible import unwrap_unsafe

REPO = pathlib.Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = REPO / ".venv" / "bin" / "ansible-inventory"
STANDING = ("dev", "stage", "prod", "lab")


@pytest.fixture
def preview_root(tmp_path):
    return tmp_path / "previews"


def _inventory_list(directory: pathlib.Path) -> subprocess.CompletedProcess:
    """The real topology plugin on ``directory``, as the playbooks load it."""
    environ = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_HOME=str(REPO / ".ansible"),
                   ANSIBLE_LOCAL_TEMP=str(REPO / ".ansible" / "tmp"))
    return subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(directory), "--list"], capture_output=True, text=True,
                          env=environ, cwd=REPO, check=False)




# ------------------------------------------------------------------------------------------------ branch mapping

@pytest.mark.parametrize(("branch", "environment", "github_environment", "inventory"), [
    ("dev", "dev", "dev", "inventories/dev"),
    ("stage", "stage", "stage", "inventories/stage"),
    ("main", "prod", "prod", "inventories/prod"),
])
def test_standing_branches_deploy_their_environment(branch, environment, github_environment, inventory):
    target = branches.deploy_target(branch)
    assert (target.kind, target.environment, target.github_environment) == ("standing", environment, github_environment)
    assert target.plan_github_environment == f"{environment}-plan"
    assert target.outputs()["inventory"] == inventory
    account = yaml.safe_load((REPO / inventory / "topology.yml").read_text())["environment"]["aws_account_id"]
    assert target.deploy_role_arn == f"arn:aws:iam::{account}:role/meridian-{environment}-github-deploy"


@pytest.mark.parametrize("branch", ["feature/login", "Main", "devel", "prod", "lab", "preview", "previews/x", "release/1"])
def test_other_branches_deploy_nothing(branch, preview_root):
    assert branches.deploy_target(branch, preview_root=preview_root) is None
    assert not preview_root.exists()


def test_a_preview_branch_deploys_its_preview_in_the_dev_account(preview_root):
    target = branches.deploy_target("preview/login-page", preview_root=preview_root)
    dev = yaml.safe_load((REPO / "inventories/dev/topology.yml").read_text())
    assert (target.kind, target.github_environment, target.base_environment) == ("preview", "preview", "dev")
    assert target.account_id == dev["environment"]["aws_account_id"]
    assert target.inventory == preview_root / target.environment
    outputs = target.outputs()
    assert json.loads(outputs["regions_hub_first"]) == ["us-east-1", "eu-west-1"]
    assert json.loads(outputs["regions_spokes_first"]) == ["eu-west-1", "us-east-1"]


def test_region_order_is_hub_first_then_spokes_by_index():
    topology = {"environment": {"name": "x"}, "regions": {
        "eu-west-1": {"role": "spoke", "index": 2}, "ap-south-1": {"role": "spoke", "index": 1},
        "us-east-1": {"role": "hub", "index": 0}}}
    assert branches.region_order(topology) == ("us-east-1", ("ap-south-1", "eu-west-1"))
    topology["regions"]["us-east-1"]["role"] = "spoke"
    with pytest.raises(BranchError, match="0 hub regions"):
        branches.region_order(topology)


# ------------------------------------------------------------------------------------------------ preview derivation

def test_preview_environment_name_follows_the_topology_plugins_rule():
    from ansible_collections.meridian.observability.plugins.module_utils._topology import model

    assert branches.ENVIRONMENT_NAME.pattern == model.ENVIRONMENT_NAME.pattern
    for branch in ("preview/login-page", "preview/X", "preview/a.b_c-d", "preview/" + "z" * 48, "preview/123"):
        name = branches.preview_environment_name(branch)
        assert model.ENVIRONMENT_NAME.match(name), name
        assert name.startswith("pv") and name not in STANDING


def test_preview_derivation_is_deterministic_and_tells_branches_apart(preview_root, tmp_path):
    first = branches.render_preview("preview/login-page", output_root=preview_root)
    again = branches.render_preview("preview/login-page", output_root=tmp_path / "again")
    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(again) for path in again.rglob("*") if path.is_file())
    for relative in files:
        assert (first / relative).read_bytes() == (again / relative).read_bytes(), relative
    # Branches whose readable part is the same still get their own names.
    names = {branches.preview_environment_name(branch) for branch in
             ("preview/login-page", "preview/loginpage", "preview/Login-Page", "preview/login-page2")}
    assert len(names) == 4
    assert branches.preview_environment_name("preview/login-page").startswith("pvloginpag")


def test_the_rendered_preview_passes_the_real_topology_plugin(preview_root):
    directory = branches.render_preview("preview/login-page", output_root=preview_root)
    result = _inventory_list(directory)
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    name = branches.preview_environment_name("preview/login-page")
    supernet = branches.preview_supernet("preview/login-page")
    assert f"env_{name}" in inventory["all"]["children"]
    hostvars = unwrap_unsafe(inventory["_meta"]["hostvars"])
    assert sorted(hostvars) == ["eu-west-1", "us-east-1"]
    for region, variables in hostvars.items():
        assert variables["meridian_environment"]["name"] == name
        assert "preview/login-page" in variables["meridian_environment"]["description"]
        assert ipaddress.ip_network(variables["meridian_cidr_plan"]["vpc_cidr"]).subnet_of(supernet)
        assert variables["meridian_ownership_tags"]["meridian:environment"] == name
        assert variables["network_tags"]["meridian:preview-branch"] == "preview/login-page"
        assert variables["eks_tags"]["meridian:preview-branch"] == "preview/login-page"
        assert variables["meridian_resource_prefix"] == f"meridian-{name}-{region}"
        # dev's endpoints, renamed: a preview never talks to dev's Keycloak or Vault.
        assert variables["meridian_keycloak_url"] == f"https://id.{name}.meridian.example.invalid"
    for path in (directory / "group_vars").rglob("*.yml"):
        assert not re.search(r"(?<![/\w])dev(?![\w/])", path.read_text().replace("preview-of: dev", "")), path


def test_the_topology_plugin_would_refuse_a_preview_name_the_derivation_never_makes(preview_root):
    """The twin of the test above: the plugin does validate what it is given."""
    directory = branches.render_preview("preview/login-page", output_root=preview_root)
    topology = yaml.safe_load((directory / "topology.yml").read_text())
    topology["environment"]["name"] = "preview-login-page"
    (directory / "topology.yml").write_text(yaml.safe_dump(topology))
    result = _inventory_list(directory)
    assert result.returncode != 0
    assert "environment.name" in result.stderr


def test_preview_addresses_overlap_no_environment_and_no_external_range():
    environments = branches.standing_environments()
    assert set(STANDING) <= set(environments)
    claimed = branches.claimed_networks(environments)
    assert any("external range corp-onprem" in what for what, _ in claimed)
    for what, network in claimed:
        assert not network.overlaps(branches.PREVIEW_POOL), what
    for number in range(300):
        supernet = branches.preview_supernet(f"preview/branch-{number}")
        assert supernet.subnet_of(branches.PREVIEW_POOL) and supernet.prefixlen == branches.PREVIEW_SLOT_PREFIX
        assert not any(network.overlaps(supernet) for _, network in claimed)


def test_a_pool_that_overlaps_an_environment_is_refused():
    environments = branches.standing_environments()
    branches.check_pool(environments)
    environments["newenv"] = {"network": {"supernet": "10.200.0.0/16", "external_ranges": []}}
    with pytest.raises(BranchError, match="overlaps newenv network.supernet 10.200.0.0/16"):
        branches.check_pool(environments)


def _two_branches_in_one_slot() -> tuple[str, str]:
    seen: dict[int, str] = {}
    for number in range(1000):
        branch = f"preview/b{number}"
        slot = branches.preview_slot(branch)
        if slot in seen:
            return seen[slot], branch
        seen[slot] = branch
    raise AssertionError("no two of 1000 branches share one of 128 slots")


def test_a_preview_whose_addresses_another_branch_holds_is_refused_naming_it(preview_root):
    holder, newcomer = _two_branches_in_one_slot()
    with pytest.raises(BranchError, match=f"as the existing branch '{re.escape(holder)}'.*Rename this branch"):
        branches.deploy_target(newcomer, preview_root=preview_root, remote_branches=[holder, newcomer, "main"])
    assert not preview_root.exists()
    elsewhere = next(f"preview/c{number}" for number in range(1000)
                     if branches.preview_slot(f"preview/c{number}") != branches.preview_slot(holder))
    assert branches.deploy_target(elsewhere, preview_root=preview_root, remote_branches=[holder, elsewhere]) is not None


def test_remote_branches_are_read_from_ls_remote_output(tmp_path):
    listing = tmp_path / "heads"
    listing.write_text("0123abcd\trefs/heads/preview/a\n4567ef01\trefs/heads/preview/b\n\npreview/c\n")
    assert branches._read_branches(str(listing)) == ["preview/a", "preview/b", "preview/c"]


# ------------------------------------------------------------------------------------------------ destroy guards

ACCEPTED = "preview/login-page"


@pytest.mark.parametrize(("refused", "twin", "reason"), [
    # (what must be refused, its accepted twin, the refusal's words)
    ("dev", "preview/dev", "standing environment's branch"),
    ("stage", "preview/stage", "standing environment's branch"),
    ("main", "preview/main", "standing environment's branch"),
    ("prod", "preview/prod", "standing environment's branch"),
    ("lab", "preview/lab", "standing environment's branch"),
    ("refs/heads/main", "refs/heads/preview/main", "standing environment's branch"),
    ("refs/tags/preview/x", "preview/x", "is not a branch"),
    ("refs/pull/7/merge", "preview/x", "is not a branch"),
    ("feature/login", "preview/login", "not a preview branch"),
    ("previews/login", "preview/login", "not a preview branch"),
    ("Preview/login", "preview/login", "not a preview branch"),
    ("preview", "preview/x", "not a preview branch"),
    ("preview/", "preview/x", "not a usable preview name"),
    ("preview/a/b", "preview/a-b", "not a usable preview name"),
    ("preview/../main", "preview/main", "not a usable preview name"),
    ("preview/a..b", "preview/a.b", "not a usable preview name"),
    ("preview/-x", "preview/x", "not a usable preview name"),
    ("preview/x-", "preview/x", "not a usable preview name"),
    ("preview/" + "a" * 49, "preview/" + "a" * 48, "not a usable preview name"),
    ("", ACCEPTED, "empty or has blanks"),
    (" preview/x", "preview/x", "empty or has blanks"),
    ("preview/x\n", "preview/x", "empty or has blanks"),
    ("preview/x y", "preview/x-y", "empty or has blanks"),
])
def test_destroy_refuses_every_ref_that_is_not_one_preview(refused, twin, reason, preview_root):
    with pytest.raises(BranchError, match=re.escape(reason)):
        branches.destroy_target(refused, "branch", preview_root=preview_root)
    target = branches.destroy_target(twin, "branch", preview_root=preview_root)
    assert target.kind == "preview" and target.environment.startswith("pv")
    assert target.environment not in STANDING


def test_destroy_refuses_a_tag(preview_root):
    with pytest.raises(BranchError, match="never a tag"):
        branches.destroy_target(ACCEPTED, "tag", preview_root=preview_root)
    with pytest.raises(BranchError, match="never a tag"):
        branches.destroy_target(ACCEPTED, "", preview_root=preview_root)
    assert branches.destroy_target(ACCEPTED, "branch", preview_root=preview_root).branch == ACCEPTED


@pytest.mark.parametrize("derived", ["dev", "stage", "prod", "lab"])
def test_destroy_refuses_a_branch_that_would_derive_a_standing_environment(derived, preview_root):
    with pytest.raises(BranchError, match=f"derives the environment name '{derived}'"):
        branches.destroy_target(ACCEPTED, "branch", preview_root=preview_root, derive_name=lambda branch: derived)
    target = branches.destroy_target(ACCEPTED, "branch", preview_root=preview_root,
                                     derive_name=branches.preview_environment_name)
    assert target.environment == branches.preview_environment_name(ACCEPTED)


@pytest.mark.parametrize(("derived", "reason"), [("xdevbox", "not a preview environment name"),
                                                  ("pv-bad", "not a preview environment name"),
                                                  ("pvsomethingelse", "is named")])
def test_destroy_refuses_a_derivation_that_is_not_the_rendered_preview(derived, reason, preview_root):
    with pytest.raises(BranchError, match=reason):
        branches.destroy_target(ACCEPTED, "branch", preview_root=preview_root, derive_name=lambda branch: derived)


def test_destroy_refuses_a_preview_in_another_environments_account(tmp_path, preview_root):
    inventories = tmp_path / "inventories"
    shutil.copytree(REPO / "inventories", inventories)
    assert branches.destroy_target(ACCEPTED, "branch", inventories=inventories, preview_root=preview_root)
    dev = inventories / "dev" / "topology.yml"
    prod_account = yaml.safe_load((inventories / "prod" / "topology.yml").read_text())["environment"]["aws_account_id"]
    dev.write_text(dev.read_text().replace('"111111111111"', f'"{prod_account}"'))
    with pytest.raises(BranchError, match=f"account {prod_account}, which is prod's"):
        branches.destroy_target(ACCEPTED, "branch", inventories=inventories, preview_root=preview_root)


def test_destroy_refuses_a_preview_addressed_outside_the_pool(monkeypatch, preview_root):
    assert branches.destroy_target(ACCEPTED, "branch", preview_root=preview_root)
    monkeypatch.setattr(branches, "preview_supernet", lambda branch, pool=None: ipaddress.ip_network("10.64.0.0/16"))
    with pytest.raises(BranchError, match="outside the preview pool"):
        branches.destroy_target(ACCEPTED, "branch", preview_root=preview_root)


def test_destroy_command_line_writes_outputs_only_for_a_preview(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(branches, "PREVIEW_ROOT", tmp_path / "previews")
    refused_output = tmp_path / "refused"
    assert branches.main(["destroy", "--ref", "main", "--ref-type", "branch", "--github-output", str(refused_output)]) == 1
    assert not refused_output.exists()
    assert "standing environment's branch" in capsys.readouterr().err
    output = tmp_path / "accepted"
    assert branches.main(["destroy", "--ref", ACCEPTED, "--ref-type", "branch", "--github-output", str(output)]) == 0
    written = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert written["kind"] == "preview" and written["github_environment"] == "preview"
    assert json.loads(written["regions_spokes_first"]) == ["eu-west-1", "us-east-1"]
    assert pathlib.Path(written["inventory"]).name == branches.preview_environment_name(ACCEPTED)


# ------------------------------------------------------------------------------------------------ Terraform state

def test_terraform_state_keys_and_backend_follow_the_bootstrap_stacks_names(preview_root):
    dev = branches.deploy_target("dev")
    assert branches.backend_config(dev, "eu-west-1") == {
        "bucket": "meridian-dev-tfstate-111111111111", "key": "dev/eu-west-1/terraform.tfstate",
        "region": "us-east-1", "dynamodb_table": "meridian-dev-tfstate-lock", "encrypt": "true",
        "kms_key_id": "arn:aws:kms:us-east-1:111111111111:alias/meridian-dev-tfstate"}
    assert branches.backend_config(branches.deploy_target("main"), "us-east-1")["bucket"] == \
        "meridian-prod-tfstate-333333333333"
    preview = branches.deploy_target(ACCEPTED, preview_root=preview_root)
    config = branches.backend_config(preview, "us-east-1")
    assert config["bucket"] == "meridian-dev-tfstate-111111111111"
    assert config["key"] == f"preview/{preview.environment}/us-east-1/terraform.tfstate"
    with pytest.raises(BranchError, match="not a region of"):
        branches.backend_config(preview, "ap-south-1")
    # The names above are the ones terraform/live/_bootstrap and modules/state-backend create.
    bootstrap = (REPO / "terraform/live/_bootstrap/main.tf").read_text()
    backend = (REPO / "terraform/modules/state-backend/main.tf").read_text()
    assert 'name   = "meridian-${var.environment}-tfstate"' in bootstrap
    assert 'bucket = "${var.name}-${data.aws_caller_identity.current.account_id}"' in backend
    assert 'name         = "${var.name}-lock"' in backend
    assert 'name          = "alias/${var.name}"' in backend


def test_preview_terraform_variables_are_git_ignored():
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False).returncode == 0

    name = branches.preview_environment_name(ACCEPTED)
    assert ignored(f"terraform/live/{name}/us-east-1/terraform.tfvars.json")
    assert ignored(f".preview/{name}/topology.yml")
    assert not ignored("terraform/live/prod/us-east-1/terraform.tfvars.json")
    assert not ignored("inventories/dev/topology.yml")
