"""The GitHub Actions workflows: the jobs `make test` needs, branch and environment rules that agree with
delivery.branches, OIDC without keys, and a destroy job that cannot run before its guard or for anything but a
deleted preview branch."""

from __future__ import annotations

import pathlib
import re
import subprocess

import pytest
import yaml

from delivery import branches

REPO = pathlib.Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _make_targets(text: str) -> set[str]:
    return {target for line in text.splitlines() for target in re.findall(r"\bmake ([a-z][a-z0-9-]+)", line)}


# ------------------------------------------------------------------------------------------------ a tiny evaluator

_CALL = re.compile(r"startsWith\(([^,]+),\s*'([^']*)'\)")
_PATH = re.compile(r"\b(?:github|needs)(?:\.[a-z_]+)+")


def evaluate(expression: str, context: dict) -> bool:
    """Evaluate the subset of Actions expressions the destroy conditions use: ==, !=, &&, ||, startsWith()."""
    def lookup(path: str):
        value = context
        for part in path.split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        return value

    python = _CALL.sub(lambda match: f"str({match.group(1)}).startswith({match.group(2)!r})", expression)
    python = _PATH.sub(lambda match: repr(lookup(match.group(0))), python)
    python = python.replace("&&", " and ").replace("||", " or ").replace("!=", " != ")
    assert re.fullmatch(r"[\s\w'\"./()=!\-]*", python), python  # nothing else may reach eval
    return bool(eval(python, {"__builtins__": {"str": str}}, {}))  # noqa: S307 - the line above checked it


def _delete_context(ref: str, ref_type: str, kind: str = "preview", environment: str = "pvx1234567") -> dict:
    return {"github": {"event": {"ref": ref, "ref_type": ref_type}},
            "needs": {"guard": {"outputs": {"kind": kind, "environment": environment}}}}


def test_the_evaluator_reads_conditions_as_github_does():
    assert evaluate("github.event.ref == 'a' && startsWith(github.event.ref, 'a')", _delete_context("a", "branch"))
    assert not evaluate("github.event.ref == 'b' || startsWith(github.event.ref, 'b')", _delete_context("a", "branch"))


# ------------------------------------------------------------------------------------------------ every workflow

@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml", "preview-destroy.yml"])
def test_every_workflow_has_concurrency_and_least_permissions(name):
    workflow = _workflow(name)
    assert workflow["concurrency"]["group"] and "cancel-in-progress" in workflow["concurrency"]
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
        if "id-token" in job.get("permissions", {}):
            assert job["permissions"]["id-token"] == "write", job_name


def test_no_workflow_holds_aws_keys_and_every_aws_login_is_oidc():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        for forbidden in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert forbidden not in text, f"{path.name} mentions {forbidden}"
        for job_name, job in yaml.safe_load(text)["jobs"].items():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
                    assert set(step["with"]) == {"role-to-assume", "aws-region", "role-session-name"}, job_name
                    assert job["permissions"]["id-token"] == "write", job_name
                    assert "environment" in job, f"{path.name} {job_name}: the OIDC subject is its environment"


# ------------------------------------------------------------------------------------------------ ci

def test_ci_runs_every_target_of_make_test():
    workflow = _workflow("ci.yml")
    assert set(workflow["on"]) == {"pull_request", "push"}
    assert "github.ref" in workflow["concurrency"]["group"]
    assert workflow["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    makefile = (REPO / "Makefile").read_text()
    test_line = re.search(r"^test: (.*?) ##", makefile, re.MULTILINE).group(1).split()
    ran = set().union(*(_make_targets(_runs(job)) for job in workflow["jobs"].values()))
    assert set(test_line) - {"bootstrap"} <= ran, set(test_line) - ran
    assert set(workflow["jobs"]) == {"lint", "unit", "lab"}
    for job in workflow["jobs"].values():
        assert job["container"] == "python:3.11-bookworm"


def test_ci_keeps_the_lab_cache_keyed_on_its_versions():
    steps = _workflow("ci.yml")["jobs"]["lab"]["steps"]
    caches = [step for step in steps if step.get("uses", "").startswith("actions/cache/")]
    assert [step["uses"].split("@")[0] for step in caches] == ["actions/cache/restore", "actions/cache/save"]
    for step in caches:
        assert step["with"]["path"] == "~/.cache/meridian/lab"
        assert "hashFiles('lab/versions.yml')" in step["with"]["key"]
    names = [step.get("uses", "") or step.get("run", "") for step in steps]
    restore, build, save = (names.index(caches[0]["uses"]), names.index("make lab-build"), names.index(caches[1]["uses"]))
    assert restore < build < save < names.index("make integration")
    assert caches[1]["if"].startswith("always()")


# ------------------------------------------------------------------------------------------------ deploy

def test_deploy_triggers_are_the_branches_delivery_branches_deploys():
    workflow = _workflow("deploy.yml")
    assert set(workflow["on"]["push"]["branches"]) == set(branches.STANDING_BRANCHES) | {"preview/**"}
    assert set(workflow["on"]["pull_request"]["branches"]) == set(branches.STANDING_BRANCHES)
    # The GitHub environments the jobs run in are the ones delivery.branches names, never spelled out in the YAML.
    environments = {branches.deploy_target(branch).github_environment for branch in branches.STANDING_BRANCHES}
    assert environments == {"dev", "stage", "prod"}
    for job_name, job in workflow["jobs"].items():
        if "environment" in job:
            assert job["environment"] in ("${{ needs.resolve.outputs.github_environment }}",
                                          "${{ needs.resolve.outputs.plan_github_environment }}"), job_name
    assert "delivery.branches deploy --branch" in _runs(workflow["jobs"]["resolve"])


def test_pull_requests_plan_into_the_job_summary_and_pushes_apply_hub_before_spokes():
    jobs = _workflow("deploy.yml")["jobs"]
    plan = jobs["plan"]
    assert "github.event_name == 'pull_request'" in plan["if"]
    assert plan["environment"].endswith("plan_github_environment }}")
    plan_runs = _runs(plan)
    assert "terraform" in plan_runs and " plan -input=false" in plan_runs
    assert "playbooks/site.yml" in plan_runs and "--check --diff" in plan_runs
    assert plan_runs.count("$GITHUB_STEP_SUMMARY") >= 3
    for name in ("foundation", "site-hub", "site-spokes"):
        assert "github.event_name == 'push'" in jobs[name]["if"], name
    assert jobs["site-hub"]["needs"] == ["resolve", "foundation"]
    assert jobs["site-spokes"]["needs"] == ["resolve", "site-hub"]
    assert jobs["site-spokes"]["strategy"]["max-parallel"] == 1
    assert jobs["site-spokes"]["strategy"]["matrix"]["region"] == "${{ fromJSON(needs.resolve.outputs.spokes) }}"
    assert '-l "$REGION"' in _runs(jobs["site-hub"]) and "needs.resolve.outputs.hub" in jobs["site-hub"]["env"]["REGION"]
    assert " apply -input=false" in _runs(jobs["foundation"])


# ------------------------------------------------------------------------------------------------ preview destroy

@pytest.mark.parametrize(("ref", "ref_type", "runs"), [
    ("preview/login", "branch", True),
    ("main", "branch", False),
    ("dev", "branch", False),
    ("stage", "branch", False),
    ("prod", "branch", False),
    ("feature/preview/x", "branch", False),
    ("preview/login", "tag", False),
    ("", "branch", False),
])
def test_destroy_jobs_run_only_for_a_deleted_preview_branch(ref, ref_type, runs):
    jobs = _workflow("preview-destroy.yml")["jobs"]
    assert evaluate(jobs["guard"]["if"], _delete_context(ref, ref_type)) is runs
    assert evaluate(jobs["destroy"]["if"], _delete_context(ref, ref_type)) is runs


@pytest.mark.parametrize(("kind", "environment", "runs"), [
    ("preview", "pvlogin1a2b3c", True), ("standing", "pvlogin1a2b3c", False), ("preview", "prod", False),
    ("", "", False)])
def test_destroy_job_needs_the_guards_preview(kind, environment, runs):
    destroy = _workflow("preview-destroy.yml")["jobs"]["destroy"]
    assert destroy["needs"] == "guard"
    assert evaluate(destroy["if"], _delete_context("preview/login", "branch", kind, environment)) is runs


def test_destroy_calls_the_guard_before_anything_destructive():
    workflow = _workflow("preview-destroy.yml")
    assert set(workflow["on"]) == {"delete"}
    assert workflow["concurrency"] == {"group": "deploy-${{ github.event.ref }}", "cancel-in-progress": False}
    guard_call = 'delivery.branches destroy --ref "$DELETED_REF" --ref-type "$DELETED_REF_TYPE"'
    assert guard_call in _runs(workflow["jobs"]["guard"])
    destroy = workflow["jobs"]["destroy"]
    assert destroy["environment"] == "preview"
    steps = destroy["steps"]

    def first(predicate) -> int:
        return next(position for position, step in enumerate(steps) if predicate(step))

    guard = first(lambda step: guard_call in step.get("run", ""))
    credentials = first(lambda step: step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    playbook = first(lambda step: "playbooks/destroy.yml" in step.get("run", ""))
    terraform = first(lambda step: "terraform -chdir" in step.get("run", "") and " destroy " in step.get("run", ""))
    assert guard < credentials < playbook < terraform
    # Only the guard's own outputs feed the destructive steps.
    for step in steps[guard + 1:]:
        assert "github.event.ref" not in str(step.get("with", {})) + str(step.get("env", {}))
    assert steps[playbook]["env"]["REGIONS"] == "${{ steps.guard.outputs.regions_spokes_first }}"
    assert '-l "$region" -e "destroy_region=$region"' in steps[playbook]["run"]
    assert steps[terraform]["env"]["REGIONS"] == "${{ steps.guard.outputs.regions_spokes_first }}"
    assert workflow["env"]["DELETED_REF"] == "${{ github.event.ref }}"


# ------------------------------------------------------------------------------------------------ actionlint

def _lint_tools():
    from lab.services.base import LabError
    from lab.tools import tool_path

    try:
        return tool_path("actionlint"), tool_path("shellcheck")
    except LabError as error:
        pytest.skip(f"{error} (make lint builds actionlint and shellcheck)")


def test_actionlint_with_shellcheck_passes_the_workflows_and_catches_a_shell_mistake(tmp_path):
    actionlint, shellcheck = _lint_tools()
    clean = subprocess.run([str(actionlint), "-shellcheck", str(shellcheck), "-pyflakes=", "-no-color",
                            *sorted(str(path) for path in WORKFLOWS.glob("*.yml"))],
                           capture_output=True, text=True, cwd=REPO, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  one:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $UNQUOTED\n")
    found = subprocess.run([str(actionlint), "-shellcheck", str(shellcheck), "-no-color", str(broken)],
                           capture_output=True, text=True, cwd=tmp_path, check=False)
    assert found.returncode == 1 and "SC2086" in found.stdout, found.stdout + found.stderr
