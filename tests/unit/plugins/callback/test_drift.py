"""The drift callback on a real (local, serverless) check-mode run, and the drift CLI's exit codes.

A small playbook on localhost stands in for the layers: a role whose file would change (recorded under the role's
name, with its diff), a no_log task holding a secret (recorded, its diff and item hidden), a loop where one item of
three would change, a check_mode: false task that really writes (not drift), and a play-level task outside roles.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.meridian.observability.plugins.callback.drift import group_changes, render_markdown
from delivery.drift import DRIFT, NO_DRIFT, RUN_FAILED, exit_code
from tests.support.ansible import BIN, REPO, ansible_env

SECRET = "s3cr3t-value-that-must-not-leak"


@pytest.fixture
def drift_run(tmp_path):
    """Run the stand-in playbook in check mode with diff; (report dict, markdown, ansible stdout, rc)."""
    target = tmp_path / "target"
    target.mkdir()
    for name in ("layer.conf", "secret.conf", "b.conf"):
        (target / name).write_text("old\n")
    (target / "a.conf").write_text("a\n")
    (target / "c.conf").write_text("c\n")
    role_tasks = tmp_path / "roles" / "fakelayer" / "tasks"
    role_tasks.mkdir(parents=True)
    (role_tasks / "main.yml").write_text(textwrap.dedent(f"""\
        - name: Layer | Write the layer's configuration
          ansible.builtin.copy: {{dest: "{target}/layer.conf", content: "new\\n"}}
        - name: Layer | Write a secret
          ansible.builtin.copy: {{dest: "{target}/secret.conf", content: "{SECRET}\\n"}}
          no_log: true
        - name: Layer | Files per item
          ansible.builtin.copy: {{dest: "{target}/{{{{ item }}}}.conf", content: "{{{{ item }}}}\\n"}}
          loop: [a, b, c]
        - name: Layer | A render that really runs in check mode
          ansible.builtin.copy: {{dest: "{target}/rendered.conf", content: "rendered\\n"}}
          check_mode: false
        """))
    playbook = tmp_path / "drift.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: Loose tasks
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Outside any role
              ansible.builtin.copy: {{dest: "{target}/loose.conf", content: "loose\\n"}}
        - name: Roles
          hosts: localhost
          gather_facts: false
          roles: [fakelayer]
        """))
    output = tmp_path / "report"
    completed = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook), "--check", "--diff",
         "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env=ansible_env(MERIDIAN_DRIFT_DIR=str(output), MERIDIAN_DRIFT_ENVIRONMENT="unit",
                        ANSIBLE_ROLES_PATH=str(tmp_path / "roles")))
    assert (target / "rendered.conf").exists(), "the check_mode: false task should really have run"
    report = json.loads((output / "drift.json").read_text())
    return report, (output / "drift.md").read_text(), completed.stdout, completed.returncode


def test_changes_are_recorded_by_host_and_layer_with_their_diffs(drift_run):
    report, markdown, stdout, rc = drift_run
    assert rc == 0, stdout[-3000:]
    assert report["environment"] == "unit" and report["playbook"] == "drift.yml" and report["failures"] == []
    found = {(change["layer"], change["task"], change["item"]) for change in report["changes"]}
    assert found == {
        ("Loose tasks", "Outside any role", ""),
        ("fakelayer", "Layer | Write the layer's configuration", ""),
        ("fakelayer", "Layer | Write a secret", ""),
        ("fakelayer", "Layer | Files per item", "b"),
    }
    assert {change["region"] for change in report["changes"]} == {"localhost"}
    assert report["summary"] == {"localhost": {"Loose tasks": 1, "fakelayer": 3}}
    [layer_change] = [c for c in report["changes"] if c["task"] == "Layer | Write the layer's configuration"]
    assert "-old\n+new" in layer_change["diff"] and "\x1b[" not in layer_change["diff"]
    assert "| localhost | fakelayer | 3 |" in markdown and "DRIFT REPORT" in stdout


def test_a_no_log_task_reaches_the_report_without_its_content(drift_run):
    report, markdown, stdout, _ = drift_run
    [secret_change] = [c for c in report["changes"] if c["task"] == "Layer | Write a secret"]
    assert secret_change["diff"] == "(diff hidden: the task is no_log)"
    assert SECRET not in json.dumps(report) and SECRET not in markdown


def test_without_an_output_dir_and_not_drift_yml_the_callback_is_silent(tmp_path):
    playbook = tmp_path / "site.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        f"    - ansible.builtin.copy: {{dest: '{tmp_path}/x', content: 'x'}}\n")
    completed = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                                "--check", "-e", f"ansible_python_interpreter={sys.executable}"],
                               cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
                               env=ansible_env(MERIDIAN_DRIFT_DIR=""))
    assert completed.returncode == 0, completed.stdout[-2000:]
    assert "changed=1" in completed.stdout and "DRIFT REPORT" not in completed.stdout


def test_markdown_of_failures_says_the_report_is_incomplete():
    report = {"environment": "dev", "generated_at": "t", "playbook": "drift.yml", "changes": [],
              "failures": [{"region": "eu-west-1", "layer": "vault", "task": "Login", "message": "connection refused"}],
              "summary": {}}
    markdown = render_markdown(report)
    assert "the report is incomplete" in markdown and "eu-west-1 / vault: Login: connection refused" in markdown
    assert "No drift: every layer" not in markdown


def test_group_changes_sorts_regions_and_layers():
    changes = [{"region": "us-east-1", "layer": "tenant"}, {"region": "eu-west-1", "layer": "vault"},
               {"region": "us-east-1", "layer": "argocd"}, {"region": "us-east-1", "layer": "tenant"}]
    assert list(group_changes(changes).items()) == [("eu-west-1", {"vault": 1}),
                                                    ("us-east-1", {"argocd": 1, "tenant": 2})]


@pytest.mark.parametrize("playbook_rc, report, expected", [
    (0, {"changes": [], "failures": []}, NO_DRIFT),
    (0, {"changes": [{"region": "r"}], "failures": []}, DRIFT),
    (2, {"changes": [{"region": "r"}], "failures": [{"region": "r"}]}, RUN_FAILED),
    (0, {"changes": [], "failures": [{"region": "r"}]}, RUN_FAILED),   # a rescued failure still makes it incomplete
    (4, {"changes": [], "failures": []}, RUN_FAILED),                  # unreachable
    (0, None, RUN_FAILED),                                             # the callback wrote nothing
])
def test_exit_codes(playbook_rc, report, expected):
    assert exit_code(playbook_rc, report) == expected
