"""Which environment a branch deploys to, the preview environments of ``preview/<name>`` branches, and the guard
that lets a deleted branch destroy only its own preview.

The GitHub Actions workflows (.github/workflows/deploy.yml and preview-destroy.yml) ask this module instead of
spelling the rules out in YAML, so the rules have unit tests:

    python -m delivery.branches deploy  --branch <name> [--remote-branches FILE] [--github-output FILE]
    python -m delivery.branches destroy --ref <ref> --ref-type <branch|tag> [--github-output FILE]
    python -m delivery.branches backend-config --branch <name> --region <region>

Branches and environments:

    dev             -> dev     (inventories/dev)
    stage           -> stage   (inventories/stage)
    main            -> prod    (inventories/prod)
    preview/<name>  -> a preview environment derived from dev, rendered into .preview/<environment>/
    anything else   -> no deployment

A preview is dev's topology with another name, a supernet of its own and smaller VPCs, in dev's AWS account:

* name: ``pv`` + up to 8 letters and digits of <name> + 6 hex digits of sha256(branch), e.g. ``pvlogin3fa2c1``
  for ``preview/login``: at most 16 characters, so the topology plugin's ENVIRONMENT_NAME accepts it, and never
  dev, stage, prod or lab;
* addresses: the /16 slot number sha256(branch) mod 128 of PREVIEW_POOL (10.128.0.0/9), which overlaps no supernet
  or external range of inventories/*/topology.yml (checked on every derivation); each region keeps its dev index
  with a /18 VPC, so a preview holds at most 4 regions;
* ownership: every resource carries meridian:environment=<preview name> (the topology's ownership tags) and the
  network and EKS layers add meridian:preview-branch=<branch>; the environment's description names the branch.

Two preview branches can hash to the same /16 slot (1 in 128 per pair). Given the remote preview branches
(``--remote-branches``, one name per line), ``deploy`` refuses a branch whose slot another branch already holds and
names that branch; the fix is to rename the new branch. The older branch is not known, so both are refused until
one is renamed: refusing both is safe, deploying both into one address range is not.

Terraform state: a standing environment keeps its regions' state in its own backend (the bucket, lock table and
KMS key terraform/live/_bootstrap creates: meridian-<env>-tfstate-<account>, meridian-<env>-tfstate-lock,
alias/meridian-<env>-tfstate) under ``<env>/<region>/terraform.tfstate``; a preview keeps its state in dev's backend
under ``preview/<name>/<region>/terraform.tfstate``, so the preview role can be limited to the preview/ prefix.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import ipaddress
import json
import pathlib
import re
import shutil
import sys
from typing import Callable, Iterable

import yaml

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
INVENTORIES = REPOSITORY / "inventories"
PREVIEW_ROOT = REPOSITORY / ".preview"

#: Branches that deploy a standing environment, and the environment each deploys.
STANDING_BRANCHES = {"dev": "dev", "stage": "stage", "main": "prod"}
PREVIEW_PREFIX = "preview/"
#: The environment a preview is derived from, whose account and state backend it uses.
PREVIEW_BASE = "dev"
#: The GitHub environment every preview deploys and is destroyed in (its own OIDC subject, no reviewers).
PREVIEW_GITHUB_ENVIRONMENT = "preview"
#: Environments no preview may ever be, whatever inventories/ holds.
RESERVED_ENVIRONMENTS = frozenset({"dev", "stage", "prod", "lab"})

#: Where preview supernets come from; every preview gets one /PREVIEW_SLOT_PREFIX slot of it.
PREVIEW_POOL = ipaddress.ip_network("10.128.0.0/9")
PREVIEW_SLOT_PREFIX = 16
PREVIEW_REGION_PREFIX = 18
PREVIEW_NAME_PREFIX = "pv"

#: The topology plugin's rule (plugins/module_utils/_topology/model.py ENVIRONMENT_NAME), repeated so this module
#: needs no Ansible; the unit test holds the two equal.
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
#: What may follow preview/: one path segment a DNS label and a tag value can both carry.
PREVIEW_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,46}[A-Za-z0-9])?$")
#: The OIDC roles the workflows assume by convention (override with the GitHub variable AWS_ROLE_TO_ASSUME).
DEPLOY_ROLE = "arn:aws:iam::{account}:role/meridian-{environment}-github-deploy"
PLAN_ROLE = "arn:aws:iam::{account}:role/meridian-{environment}-github-plan"


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as yamllint (and every hand-written topology here) does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _dump(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=110)


class BranchError(ValueError):
    """A branch or ref that must not deploy or be destroyed; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class Target:
    """What one branch deploys: the environment, its inventory and the order its regions are converged in."""

    branch: str
    kind: str                      # "standing" or "preview"
    environment: str               # the topology's environment.name
    github_environment: str        # where apply and destroy jobs run (required reviewers on prod)
    plan_github_environment: str   # where pull-request plans run
    inventory: pathlib.Path
    base_environment: str          # whose account and Terraform backend it uses
    hub: str
    spokes: tuple[str, ...]
    account_id: str
    deploy_role_arn: str
    plan_role_arn: str

    @property
    def regions_hub_first(self) -> list[str]:
        return [self.hub, *self.spokes]

    @property
    def regions_spokes_first(self) -> list[str]:
        return [*reversed(self.spokes), self.hub]

    def outputs(self) -> dict[str, str]:
        """The step outputs the workflows read (strings; lists as JSON for fromJSON in a matrix)."""
        try:
            inventory = str(self.inventory.relative_to(REPOSITORY))
        except ValueError:
            inventory = str(self.inventory)
        return {
            "deploy": "true", "branch": self.branch, "kind": self.kind, "environment": self.environment,
            "github_environment": self.github_environment, "plan_github_environment": self.plan_github_environment,
            "inventory": inventory, "base_environment": self.base_environment, "hub": self.hub,
            "spokes": json.dumps(list(self.spokes)), "regions_hub_first": json.dumps(self.regions_hub_first),
            "regions_spokes_first": json.dumps(self.regions_spokes_first), "aws_region": self.hub,
            "deploy_role_arn": self.deploy_role_arn, "plan_role_arn": self.plan_role_arn,
            "terraform_live": f"terraform/live/{self.environment}",
        }


# ------------------------------------------------------------------------------------------------ topologies

def load_topology(inventory: pathlib.Path) -> dict:
    path = inventory / "topology.yml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BranchError(f"{path} does not exist; every environment is a directory holding topology.yml.") from None
    if not isinstance(document, dict) or not isinstance(document.get("regions"), dict):
        raise BranchError(f"{path} is not a topology (no regions mapping).")
    return document


def region_order(topology: dict) -> tuple[str, tuple[str, ...]]:
    """(hub, spokes by index): the hub converges first and is destroyed last."""
    regions = topology["regions"]
    hubs = [name for name, region in regions.items() if region.get("role") == "hub"]
    if len(hubs) != 1:
        raise BranchError(f"the topology of {topology.get('environment', {}).get('name')!r} has {len(hubs)} hub "
                          "regions; exactly one region must have role: hub.")
    spokes = sorted((name for name, region in regions.items() if region.get("role") == "spoke"),
                    key=lambda name: (regions[name].get("index", 0), name))
    return hubs[0], tuple(spokes)


def standing_environments(inventories: pathlib.Path = INVENTORIES) -> dict[str, dict]:
    """Every environment under inventories/ by name: the ranges and accounts a preview must stay clear of."""
    return {path.parent.name: load_topology(path.parent) for path in sorted(inventories.glob("*/topology.yml"))}


def claimed_networks(environments: dict[str, dict]) -> list[tuple[str, ipaddress.IPv4Network]]:
    """(what, network) for every supernet and external range the standing environments declare."""
    claimed = []
    for name, topology in environments.items():
        network = topology.get("network") or {}
        claimed.append((f"{name} network.supernet", ipaddress.ip_network(network["supernet"])))
        for entry in network.get("external_ranges") or []:
            claimed.append((f"{name} external range {entry['name']}", ipaddress.ip_network(entry["cidr"])))
    return claimed


def check_pool(environments: dict[str, dict], pool: ipaddress.IPv4Network = PREVIEW_POOL) -> None:
    """Refuse a preview pool that overlaps any range a standing environment or the outside world uses."""
    clashes = [f"{what} {network}" for what, network in claimed_networks(environments) if network.overlaps(pool)]
    if clashes:
        raise BranchError(f"the preview pool {pool} overlaps {', '.join(clashes)}; previews would share addresses "
                          "with them. Move PREVIEW_POOL in delivery/branches.py to a free range.")


# ------------------------------------------------------------------------------------------------ previews

def preview_name_of(branch: str) -> str:
    """The part after preview/, or BranchError when the branch is not a well-formed preview branch."""
    if not isinstance(branch, str) or not branch.startswith(PREVIEW_PREFIX):
        raise BranchError(f"{branch!r} is not a preview branch; only preview/<name> branches have preview "
                          "environments.")
    name = branch[len(PREVIEW_PREFIX):]
    if not PREVIEW_NAME.match(name) or ".." in name:
        raise BranchError(f"{branch!r}: {name!r} is not a usable preview name. Use 1-48 letters, digits, '.', '_' "
                          "or '-', starting and ending with a letter or digit, in one segment (preview/login-page).")
    return name


def _digest(branch: str) -> bytes:
    return hashlib.sha256(branch.encode("utf-8")).digest()


def preview_environment_name(branch: str) -> str:
    """pv + up to 8 letters and digits of the name + 6 hex digits of the branch's hash (at most 16 characters)."""
    name = preview_name_of(branch)
    readable = re.sub(r"[^a-z0-9]", "", name.lower())[:8]
    return f"{PREVIEW_NAME_PREFIX}{readable}{_digest(branch).hex()[:6]}"


def preview_slot(branch: str, pool: ipaddress.IPv4Network = PREVIEW_POOL) -> int:
    """The /PREVIEW_SLOT_PREFIX slot of the pool a preview branch's supernet is."""
    preview_name_of(branch)
    slots = 2 ** (PREVIEW_SLOT_PREFIX - pool.prefixlen)
    return int.from_bytes(_digest(branch)[:8], "big") % slots


def preview_supernet(branch: str, pool: ipaddress.IPv4Network = PREVIEW_POOL) -> ipaddress.IPv4Network:
    return list(pool.subnets(new_prefix=PREVIEW_SLOT_PREFIX))[preview_slot(branch, pool)]


def check_slot_collisions(branch: str, remote_branches: Iterable[str]) -> None:
    """Refuse a preview whose address slot or name another remote preview branch already derives."""
    slot, name = preview_slot(branch), preview_environment_name(branch)
    for other in sorted(set(remote_branches)):
        if other == branch or not other.startswith(PREVIEW_PREFIX):
            continue
        try:
            other_slot, other_name = preview_slot(other), preview_environment_name(other)
        except BranchError:
            continue  # a malformed branch deploys nothing, so it claims nothing
        if other_slot == slot or other_name == name:
            shared = f"address range {preview_supernet(branch)}" if other_slot == slot else f"name {name}"
            raise BranchError(f"{branch!r} derives the same preview {shared} as the existing branch {other!r}; two "
                              "previews must never share them. Rename this branch (any other preview/<name>) and "
                              "push again.")


def preview_topology(branch: str, base: dict, environments: dict[str, dict]) -> dict:
    """dev's topology re-addressed and renamed for ``branch``; the topology plugin validates the result."""
    check_pool(environments)
    name = preview_environment_name(branch)
    regions = {}
    capacity = 2 ** (PREVIEW_REGION_PREFIX - PREVIEW_SLOT_PREFIX)
    for region_name, region in base["regions"].items():
        if not 0 <= int(region.get("index", 0)) < capacity:
            raise BranchError(f"{PREVIEW_BASE} region {region_name} has index {region.get('index')}; a preview's "
                              f"/{PREVIEW_SLOT_PREFIX} holds {capacity} /{PREVIEW_REGION_PREFIX} VPCs (indices "
                              f"0..{capacity - 1}). Widen PREVIEW_SLOT_PREFIX in delivery/branches.py.")
        regions[region_name] = dict(region)
    environment = dict(base["environment"])
    environment["name"] = name
    environment["description"] = (f"Preview of branch {branch}, derived from {PREVIEW_BASE}; destroyed when the "
                                  "branch is deleted.")
    network = dict(base["network"])
    network["supernet"] = str(preview_supernet(branch))
    network["region_prefix"] = PREVIEW_REGION_PREFIX
    topology = {key: value for key, value in base.items() if key not in ("environment", "network", "regions")}
    return {"plugin": base.get("plugin", "meridian.observability.topology"), "environment": environment,
            "network": network, "regions": regions, **{k: v for k, v in topology.items() if k != "plugin"}}


#: "dev" as a word of dev's group_vars (meridian-dev-..., id.dev.meridian...), not inside /dev/ paths.
_BASE_WORD = re.compile(rf"(?<![/\w]){PREVIEW_BASE}(?![\w/])")


def preview_group_vars(branch: str, name: str) -> str:
    """The preview's own group_vars file: the branch on every network and EKS resource beside the ownership tags."""
    tags = {"meridian:preview-branch": branch, "meridian:preview-of": PREVIEW_BASE}
    return ("---\n"
            f"# Rendered by python -m delivery.branches for {branch}; re-rendered on every run, never edited.\n"
            "# The ownership tags (meridian:environment=" + name + ", ...) come from the topology; these name the branch.\n"
            + _dump({"network_tags": tags, "eks_tags": dict(tags)}))


def render_preview(branch: str, *, inventories: pathlib.Path = INVENTORIES, output_root: pathlib.Path | None = None,
                   remote_branches: Iterable[str] = ()) -> pathlib.Path:
    """Write .preview/<name>/ (topology.yml and dev's group_vars for the preview); return the directory."""
    output_root = output_root or PREVIEW_ROOT
    environments = standing_environments(inventories)
    if PREVIEW_BASE not in environments:
        raise BranchError(f"{inventories}/{PREVIEW_BASE}/topology.yml is missing; previews are derived from it.")
    check_slot_collisions(branch, remote_branches)
    topology = preview_topology(branch, environments[PREVIEW_BASE], environments)
    name = topology["environment"]["name"]
    target = output_root / name
    if target.exists():
        shutil.rmtree(target)  # a re-render must not keep a group_vars file dev has since dropped
    group_vars = target / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    header = (f"# Preview environment of branch {branch}, rendered by python -m delivery.branches\n"
              f"# from inventories/{PREVIEW_BASE}/topology.yml. Never edit: every deploy re-renders it.\n")
    (target / "topology.yml").write_text("---\n" + header + _dump(topology), encoding="utf-8")
    base_vars = inventories / PREVIEW_BASE / "group_vars" / "all"
    for source in sorted(base_vars.glob("*.yml")):
        # dev's endpoints and credentials name dev; the preview's name its own environment instead.
        (group_vars / source.name).write_text(_BASE_WORD.sub(name, source.read_text(encoding="utf-8")), encoding="utf-8")
    (group_vars / "preview.yml").write_text(preview_group_vars(branch, name), encoding="utf-8")
    return target


# ------------------------------------------------------------------------------------------------ targets

def _target(branch: str, kind: str, inventory: pathlib.Path, github_environment: str, plan_environment: str,
            base_environment: str, base_topology: dict) -> Target:
    topology = load_topology(inventory)
    hub, spokes = region_order(topology)
    account = str(base_topology["environment"]["aws_account_id"])
    return Target(branch=branch, kind=kind, environment=topology["environment"]["name"],
                  github_environment=github_environment, plan_github_environment=plan_environment,
                  inventory=inventory, base_environment=base_environment, hub=hub, spokes=spokes, account_id=account,
                  deploy_role_arn=DEPLOY_ROLE.format(account=account, environment=base_environment),
                  plan_role_arn=PLAN_ROLE.format(account=account, environment=base_environment))


def deploy_target(branch: str, *, inventories: pathlib.Path = INVENTORIES, preview_root: pathlib.Path | None = None,
                  remote_branches: Iterable[str] = ()) -> Target | None:
    """The environment a push to ``branch`` deploys (a preview is rendered first); None: the branch deploys nothing."""
    if branch in STANDING_BRANCHES:
        environment = STANDING_BRANCHES[branch]
        inventory = inventories / environment
        topology = load_topology(inventory)
        if topology.get("environment", {}).get("name") != environment:
            raise BranchError(f"{inventory}/topology.yml names environment "
                              f"{topology.get('environment', {}).get('name')!r}, not {environment!r}.")
        return _target(branch, "standing", inventory, environment, f"{environment}-plan", environment, topology)
    if branch.startswith(PREVIEW_PREFIX):
        inventory = render_preview(branch, inventories=inventories, output_root=preview_root,
                                   remote_branches=remote_branches)
        return _target(branch, "preview", inventory, PREVIEW_GITHUB_ENVIRONMENT, PREVIEW_GITHUB_ENVIRONMENT,
                       PREVIEW_BASE, load_topology(inventories / PREVIEW_BASE))
    return None


def destroy_target(ref: str, ref_type: str, *, inventories: pathlib.Path = INVENTORIES,
                   preview_root: pathlib.Path | None = None,
                   derive_name: Callable[[str], str] = preview_environment_name) -> Target:
    """The preview a deleted ``ref`` may destroy; BranchError for anything that is not exactly one preview.

    Every check is independent of the others, so that one mistake elsewhere (in the workflow's ``if:``, in the
    name derivation, in a rendered topology) still meets a refusal here.
    """
    if ref_type != "branch":
        raise BranchError(f"ref_type is {ref_type!r}: only a deleted branch destroys a preview, never a tag.")
    if not isinstance(ref, str) or not ref or ref != ref.strip() or any(ord(char) < 33 for char in ref):
        raise BranchError(f"the deleted ref {ref!r} is empty or has blanks or control characters; nothing is destroyed.")
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
    if branch.startswith("refs/"):
        raise BranchError(f"{ref!r} is not a branch (refs/heads/...); nothing is destroyed.")
    if branch in STANDING_BRANCHES or branch in set(STANDING_BRANCHES.values()) | RESERVED_ENVIRONMENTS:
        raise BranchError(f"{branch!r} is a standing environment's branch; destroy on branch deletion only ever "
                          "removes preview/<name> environments. Tear a standing environment down by hand "
                          "(playbooks/destroy.yml, region by region).")
    preview_name_of(branch)  # refuses anything not under preview/ and malformed names
    environments = standing_environments(inventories)
    derived = derive_name(branch)
    if derived in RESERVED_ENVIRONMENTS or derived in environments:
        raise BranchError(f"{branch!r} derives the environment name {derived!r}, which is a standing environment; "
                          "nothing is destroyed.")
    if not (derived.startswith(PREVIEW_NAME_PREFIX) and ENVIRONMENT_NAME.match(derived)):
        raise BranchError(f"{branch!r} derives {derived!r}, which is not a preview environment name "
                          f"({PREVIEW_NAME_PREFIX}<letters and digits>); nothing is destroyed.")
    target = _target(branch, "preview", render_preview(branch, inventories=inventories, output_root=preview_root),
                     PREVIEW_GITHUB_ENVIRONMENT, PREVIEW_GITHUB_ENVIRONMENT, PREVIEW_BASE,
                     load_topology(inventories / PREVIEW_BASE))
    if target.environment != derived:
        raise BranchError(f"the rendered preview of {branch!r} is named {target.environment!r}, not {derived!r}; "
                          "nothing is destroyed.")
    other_accounts = {str(topology["environment"]["aws_account_id"]): env for env, topology in environments.items()
                      if env != PREVIEW_BASE}
    if target.account_id in other_accounts:
        raise BranchError(f"the preview of {branch!r} would be in account {target.account_id}, which is "
                          f"{other_accounts[target.account_id]}'s; a preview lives only in {PREVIEW_BASE}'s account.")
    supernet = ipaddress.ip_network(load_topology(target.inventory)["network"]["supernet"])
    if not supernet.subnet_of(PREVIEW_POOL):
        raise BranchError(f"the preview of {branch!r} has supernet {supernet}, outside the preview pool "
                          f"{PREVIEW_POOL}; nothing is destroyed.")
    return target


# ------------------------------------------------------------------------------------------------ Terraform

def backend_config(target: Target, region: str, inventories: pathlib.Path = INVENTORIES) -> dict[str, str]:
    """terraform init -backend-config values of one region: the base environment's backend, the target's key."""
    if region not in target.regions_hub_first:
        raise BranchError(f"{region!r} is not a region of {target.environment} ({', '.join(target.regions_hub_first)}).")
    base = load_topology(inventories / target.base_environment)
    base_hub, _ = region_order(base)
    account = str(base["environment"]["aws_account_id"])
    state = f"meridian-{target.base_environment}-tfstate"
    key = (f"preview/{target.environment}/{region}/terraform.tfstate" if target.kind == "preview"
           else f"{target.environment}/{region}/terraform.tfstate")
    return {"bucket": f"{state}-{account}", "key": key, "region": base_hub, "dynamodb_table": f"{state}-lock",
            "encrypt": "true", "kms_key_id": f"arn:aws:kms:{base_hub}:{account}:alias/{state}"}


# ------------------------------------------------------------------------------------------------ command line

def _write_outputs(outputs: dict[str, str], github_output: str | None) -> None:
    for key, value in outputs.items():
        print(f"{key}={value}")
    if github_output:
        with open(github_output, "a", encoding="utf-8") as handle:
            for key, value in outputs.items():
                handle.write(f"{key}={value}\n")


def _read_branches(path: str | None) -> list[str]:
    if not path:
        return []
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    # `git ls-remote --heads` lines are "<sha>\trefs/heads/<branch>"; a plain list has one branch a line.
    return [line.split("\t")[-1].strip().removeprefix("refs/heads/") for line in lines if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m delivery.branches", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("deploy", help="the environment a push to (or a pull request into) a branch deploys")
    deploy.add_argument("--branch", required=True)
    deploy.add_argument("--remote-branches", help="file of remote branches (git ls-remote --heads output or names)")
    deploy.add_argument("--github-output", help="append the outputs to this file ($GITHUB_OUTPUT)")
    destroy = commands.add_parser("destroy", help="the preview a deleted ref may destroy; exit 1 for anything else")
    destroy.add_argument("--ref", required=True)
    destroy.add_argument("--ref-type", required=True)
    destroy.add_argument("--github-output")
    backend = commands.add_parser("backend-config", help="terraform init -backend-config lines of one region")
    backend.add_argument("--branch", required=True)
    backend.add_argument("--region", required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "deploy":
            target = deploy_target(args.branch, remote_branches=_read_branches(args.remote_branches))
            if target is None:
                print(f"{args.branch!r} deploys nothing: only dev, stage, main and preview/<name> have environments.",
                      file=sys.stderr)
                _write_outputs({"deploy": "false", "branch": args.branch}, args.github_output)
                return 0
            _write_outputs(target.outputs(), args.github_output)
        elif args.command == "destroy":
            target = destroy_target(args.ref, args.ref_type)
            _write_outputs(target.outputs(), args.github_output)
        else:
            target = deploy_target(args.branch)
            if target is None:
                raise BranchError(f"{args.branch!r} deploys nothing, so it has no Terraform state.")
            for key, value in backend_config(target, args.region).items():
                print(f'{key} = "{value}"' if key != "encrypt" else f"{key} = {value}")
    except BranchError as error:
        print(f"delivery.branches: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
