"""The drift callback on a real (local, serverless) check-mode run, and the drift CLI's exit codes.

A small playbook on localhost stands in for the layers: a role whose file would change (recorded under the role's
name, with its diff), a no_log task holding a secret (recorded, its diff and item hidden), a loop where one item of
three would change, a check_mode: false task that really writes (not drift), a helper role the layer includes (its
change belongs to the including layer, as aws_session's would to network), and a play-level task outside roles.
Synthetic diffs check the Secret redaction and the rendering; the CLI's exit codes and arguments without a lab.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from ansible_collections.meridian.observability.plugins.callback.drift import (
    REDACTED, REDACTED_AFTER, REDACTED_BEFORE, group_changes, redact_diff, render_markdown, summary_lines)
from delivery import drift as drift_cli
from delivery.drift import DRIFT, NO_DRIFT, RUN_FAILED, exit_code
from tests.support.ansible import BIN, REPO, ansible_env

SECRET = "s3cr3t-value-that-must-not-leak"


def check_run_on_localhost(playbook, *, diff: bool, cwd=REPO, **environment: str) -> subprocess.CompletedProcess:
    """ansible-playbook in check mode on localhost (no server), with this checkout's ansible.cfg and the callback."""
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook), "--check",
         *(["--diff"] if diff else []), "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False, env=ansible_env(**environment))


@pytest.fixture(scope="module")
def drift_run(tmp_path_factory):
    """Run the stand-in playbook in check mode with diff; (report dict, markdown, ansible stdout, rc).

    Once for the module: the tests only read what the run reported."""
    tmp_path = tmp_path_factory.mktemp("drift")
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
        - name: Layer | A helper role, included
          ansible.builtin.include_role:
            name: fakehelper
        """))
    helper_tasks = tmp_path / "roles" / "fakehelper" / "tasks"
    helper_tasks.mkdir(parents=True)
    (helper_tasks / "main.yml").write_text(textwrap.dedent(f"""\
        - name: Helper | Write the helper's file
          ansible.builtin.copy: {{dest: "{target}/helper.conf", content: "helper\\n"}}
        """))
    # A plural tenant module's result: one call, a mapping of tenants by name, two of three changed.
    library = tmp_path / "library"
    library.mkdir()
    (library / "fake_tenants.py").write_text(textwrap.dedent("""\
        from ansible.module_utils.basic import AnsibleModule
        module = AnsibleModule(argument_spec={}, supports_check_mode=True)
        module.exit_json(changed=True, tenants={"acme": {"changed": True}, "globex": {"changed": False},
                                                "initech": {"changed": True}})
        """))
    # kubernetes.core.k8s applying one object returns it as result.
    (library / "fake_k8s.py").write_text(textwrap.dedent("""\
        from ansible.module_utils.basic import AnsibleModule
        module = AnsibleModule(argument_spec={}, supports_check_mode=True)
        module.exit_json(changed=True, result={"kind": "Tenant", "metadata": {"name": "acme"}})
        """))
    playbook = tmp_path / "drift.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: Loose tasks
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Outside any role
              ansible.builtin.copy: {{dest: "{target}/loose.conf", content: "loose\\n"}}
            - name: Many tenants in one call
              fake_tenants: {{}}
            - name: One Kubernetes object applied
              fake_k8s: {{}}
        - name: Roles
          hosts: localhost
          gather_facts: false
          roles: [fakelayer]
        """))
    output = tmp_path / "report"
    completed = check_run_on_localhost(playbook, diff=True, MERIDIAN_DRIFT_DIR=str(output),
                                       MERIDIAN_DRIFT_ENVIRONMENT="unit", ANSIBLE_ROLES_PATH=str(tmp_path / "roles"),
                                       ANSIBLE_LIBRARY=str(library))
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
        ("Loose tasks", "Many tenants in one call", "acme, initech"),
        ("Loose tasks", "One Kubernetes object applied", "Tenant/acme"),
        ("fakelayer", "Layer | Write the layer's configuration", ""),
        ("fakelayer", "Layer | Write a secret", ""),
        ("fakelayer", "Layer | Files per item", "b"),
        ("fakelayer", "Helper | Write the helper's file", ""),
    }
    assert {change["region"] for change in report["changes"]} == {"localhost"}
    assert report["summary"] == {"localhost": {"Loose tasks": 3, "fakelayer": 4}}
    assert report["counts"] == {"changes": 7, "failures": 0}
    [layer_change] = [c for c in report["changes"] if c["task"] == "Layer | Write the layer's configuration"]
    assert "-old\n+new" in layer_change["diff"] and "\x1b[" not in layer_change["diff"]
    assert "| localhost | fakelayer | 4 |" in markdown and "DRIFT REPORT" in stdout
    # The end of the run's output names each difference: all an AWX job (no output directory) has to show.
    assert "drift:   localhost / fakelayer: Layer | Files per item (b)" in stdout
    assert "drift:   localhost / Loose tasks: Outside any role" in stdout
    assert "drift:   localhost / Loose tasks: Many tenants in one call (acme, initech)" in stdout


def test_a_no_log_task_reaches_the_report_without_its_content(drift_run):
    report, markdown, stdout, _ = drift_run
    [secret_change] = [c for c in report["changes"] if c["task"] == "Layer | Write a secret"]
    assert secret_change["diff"] == "(diff hidden: the task is no_log)"
    assert SECRET not in json.dumps(report) and SECRET not in markdown


def test_without_an_output_dir_and_not_drift_yml_the_callback_is_silent(tmp_path):
    playbook = tmp_path / "site.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        f"    - ansible.builtin.copy: {{dest: '{tmp_path}/x', content: 'x'}}\n")
    completed = check_run_on_localhost(playbook, diff=False, MERIDIAN_DRIFT_DIR="")
    assert completed.returncode == 0, completed.stdout[-2000:]
    assert "changed=1" in completed.stdout and "DRIFT REPORT" not in completed.stdout


def test_drift_yml_without_an_output_dir_reports_in_its_output_only(tmp_path):
    """The twin: AWX's drift job sets no directory; the run's own output carries the summary, and no file appears."""
    playbook = tmp_path / "drift.yml"
    playbook.write_text("- name: Stand-in layer\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        f"    - name: Would write x\n      ansible.builtin.copy: {{dest: '{tmp_path}/x', content: 'x'}}\n")
    completed = check_run_on_localhost(playbook, diff=False, cwd=tmp_path, MERIDIAN_DRIFT_DIR="")
    assert completed.returncode == 0, completed.stdout[-2000:]
    summary = completed.stdout[completed.stdout.index("DRIFT REPORT"):]
    assert "drift: localhost / Stand-in layer: 1 difference(s)" in summary
    assert "drift:   localhost / Stand-in layer: Would write x" in summary
    assert sorted(path.name for path in tmp_path.iterdir()) == ["drift.yml"]


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


def test_a_failed_run_is_recorded_as_failed_without_no_log_content(tmp_path):
    """A drift run that broke must never read as "no drift": the failures are in the report, a no_log one without its
    message; the twin task that fails openly keeps its message."""
    playbook = tmp_path / "drift.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: Breaks
          hosts: localhost
          gather_facts: false
          tasks:
            - name: A hidden failure
              ansible.builtin.fail: {{msg: "{SECRET}"}}
              no_log: true
        """))
    open_failure = tmp_path / "open.yml"
    open_failure.write_text(textwrap.dedent("""\
        - name: Breaks openly
          hosts: localhost
          gather_facts: false
          tasks:
            - name: An open failure
              ansible.builtin.fail: {msg: "the Vault token expired"}
        """))
    reports = {}
    for name, path in (("hidden", playbook), ("open", open_failure)):
        output = tmp_path / name
        completed = check_run_on_localhost(path, diff=True, MERIDIAN_DRIFT_DIR=str(output))
        assert completed.returncode == 2, completed.stdout[-2000:]
        reports[name] = (json.loads((output / "drift.json").read_text()), (output / "drift.md").read_text(),
                         completed.stdout)
    hidden, hidden_markdown, hidden_stdout = reports["hidden"]
    assert hidden["failures"] == [{"region": "localhost", "layer": "Breaks", "task": "A hidden failure",
                                   "message": "(hidden: the task is no_log)"}]
    # Only the callback's own part of the output: ansible-core 2.19's default callback itself prints a no_log
    # ansible.builtin.fail's msg in its "[ERROR]: Task failed: Action failed: ..." line, which is not ours to fix.
    drift_summary = hidden_stdout[hidden_stdout.rindex("DRIFT REPORT"):]
    assert SECRET not in json.dumps(hidden) and SECRET not in hidden_markdown and SECRET not in drift_summary
    assert "drift: none in what ran" in drift_summary and "matches the topology" not in drift_summary
    assert exit_code(2, hidden) == RUN_FAILED and "the report is incomplete" in hidden_markdown
    opened, _, opened_stdout = reports["open"]
    assert [failure["message"] for failure in opened["failures"]] == ["the Vault token expired"]
    assert "drift: FAILED localhost / Breaks openly: An open failure: the Vault token expired" in opened_stdout


def secret_object(token: str, label: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vault-reviewer", "labels": {"team": label}},
            "data": {"token": token, "ca.crt": "Q0EK"}, "type": "kubernetes.io/service-account-token"}


def test_secret_values_never_reach_a_diff_but_which_key_differs_does():
    changed_label = redact_diff({"before": secret_object("ZXlKaGJHYw==", "a"), "after": secret_object("ZXlKaGJHYw==", "b")})
    assert changed_label["before"]["data"] == {"token": REDACTED, "ca.crt": REDACTED}
    assert changed_label["after"]["metadata"]["labels"] == {"team": "b"}  # what is not a Secret value stays
    changed_token = redact_diff({"before": secret_object("b2xk", "a"), "after": secret_object("bmV3", "a")})
    assert changed_token["before"]["data"]["token"] == REDACTED_BEFORE
    assert changed_token["after"]["data"]["token"] == REDACTED_AFTER
    assert changed_token["after"]["data"]["ca.crt"] == REDACTED
    for diff in (changed_label, changed_token):
        assert "b2xk" not in json.dumps(diff) and "bmV3" not in json.dumps(diff) and "ZXlKaGJHYw" not in json.dumps(diff)
    # Secrets nested in a list (a List object) are redacted too; a ConfigMap and text diffs are left as they are.
    listed = redact_diff({"before": {"kind": "List", "items": [{"kind": "Secret", "stringData": {"password": "p"}}]},
                          "after": {"kind": "ConfigMap", "data": {"limits.yaml": "series_limit: 5"}}})
    assert listed["before"]["items"][0]["stringData"] == {"password": REDACTED}
    assert listed["after"]["data"] == {"limits.yaml": "series_limit: 5"}
    text = {"before": "series_limit: 5\n", "after": "series_limit: 6\n"}
    assert redact_diff(text) == text


def test_summary_lines_name_failures_first_then_each_difference():
    report = {"failures": [{"region": "eu-west-1", "layer": "vault", "task": "Login", "message": "refused"}],
              "changes": [{"region": "us-east-1", "layer": "tenant", "task": "Thanos | Place", "item": "acme"},
                          {"region": "eu-west-1", "layer": "tenant", "task": "Onboard | Apply", "item": ""}]}
    assert summary_lines(report) == ["drift: FAILED eu-west-1 / vault: Login: refused",
                                     "drift:   eu-west-1 / tenant: Onboard | Apply",
                                     "drift:   us-east-1 / tenant: Thanos | Place (acme)"]


def test_the_cli_passes_other_arguments_to_ansible_playbook_and_a_bad_invocation_is_not_drift(monkeypatch, tmp_path):
    calls = []
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(drift_cli, "run", lambda inventory, output, extra: calls.append((inventory, output, extra)) or 0)
    assert drift_cli.main(["--inventory", "inventories/lab", "--output", str(tmp_path), "--tags", "tenant",
                           "-l", "us-east-1"]) == 0
    assert drift_cli.main(["--inventory", "inventories/lab", "--", "--tags", "tenant"]) == 0
    assert calls[0] == (REPO / "inventories" / "lab", tmp_path, ["--tags", "tenant", "-l", "us-east-1"])
    assert calls[1] == (REPO / "inventories" / "lab", REPO / ".drift" / "lab", ["--tags", "tenant"])
    # argparse's own usage error exits 2, which here would read as "drift found".
    for argv in (["--inventory", str(tmp_path)], []):
        with pytest.raises(SystemExit) as refused:
            drift_cli.main(argv)
        assert refused.value.code == RUN_FAILED


def test_drift_yml_covers_site_and_tenants_in_one_run_refusing_anything_but_check_mode():
    """drift.yml imports site.yml, whose last layer is tenants.yml: importing tenants.yml again would run the tenant
    layer twice and count each tenant difference twice. Should site.yml ever stop importing it, drift.yml must too."""
    drift_plays = yaml.safe_load((REPO / "playbooks" / "drift.yml").read_text())
    site_plays = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    assert drift_plays[0]["tags"] == ["always"]
    assert drift_plays[0]["tasks"][0]["ansible.builtin.assert"]["that"] == "ansible_check_mode"
    assert [play.get("ansible.builtin.import_playbook") for play in drift_plays[1:]] == ["site.yml"]
    assert site_plays[-1]["ansible.builtin.import_playbook"] == "tenants.yml"
