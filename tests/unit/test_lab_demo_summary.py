"""lab.demo_summary against real ansible-playbook output (a tiny local playbook, no lab servers)."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

from lab.demo_summary import main, parse_run, render
from tests.support.ansible import recap, run_ansible

ROLE_TASKS = """
- name: Loop with one changed item and one skipped
  ansible.builtin.command: "echo {{ item }}"
  loop: [1, 2, 3]
  changed_when: item == 2 and not second_run
  when: item != 3
- name: Include more tasks
  ansible.builtin.include_tasks: extra.yml
- name: Ignored failure
  ansible.builtin.command: "false"
  ignore_errors: true  # noqa: ignore-errors  # the recap counts it as ok and ignored
  changed_when: false
- name: Delegated to the controller
  ansible.builtin.command: "true"
  delegate_to: localhost
  changed_when: not second_run
  notify: Handler
"""

PLAYBOOK = """
- name: Preflight of the fake site
  hosts: all
  gather_facts: false
  tasks:
    - name: Plain task
      ansible.builtin.debug:
        msg: "ok: [not-a-host] looks like a result line but is indented"
- name: Fake layer
  hosts: all
  gather_facts: false
  roles: [fakelayer]
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("site")
    role = root / "roles" / "fakelayer"
    (role / "tasks").mkdir(parents=True)
    (role / "handlers").mkdir()
    (role / "tasks" / "main.yml").write_text(ROLE_TASKS)
    (role / "tasks" / "extra.yml").write_text(
        "- name: Included task\n  ansible.builtin.debug: {msg: included}\n")
    (role / "handlers" / "main.yml").write_text(
        "- name: Handler\n  ansible.builtin.debug: {msg: handled}\n")
    (root / "site.yml").write_text(PLAYBOOK)
    return root


def _run(site: pathlib.Path, *, second_run: bool, limit: str = "all") -> str:
    # Two local hosts named like the lab's regions (host_list inventory: works with any enable_plugins).
    completed = run_ansible("ansible-playbook", str(site / "site.yml"), "-i", "us-east-1,eu-west-1,",
                            "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
                            "-l", limit, "-e", json.dumps({"second_run": second_run}),
                            env={"ANSIBLE_ROLES_PATH": str(site / "roles")})
    return completed.stdout


@pytest.fixture(scope="module")
def logs(site, tmp_path_factory) -> dict[str, pathlib.Path]:
    """What `make demo` tees: a first run per region, then one re-run over both."""
    directory = tmp_path_factory.mktemp("demo-logs")
    paths = {}
    for region in ("us-east-1", "eu-west-1"):
        paths[region] = directory / f"first-{region}.log"
        paths[region].write_text(_run(site, second_run=False, limit=region))
    paths["rerun"] = directory / "rerun.log"
    paths["rerun"].write_text(_run(site, second_run=True))
    return paths


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_counts_per_layer_add_up_to_the_recap(logs, region):
    stdout = logs[region].read_text()
    run = parse_run(stdout)
    assert run.order == [("Preflight of the fake site", ""), ("Fake layer", "fakelayer")]
    expected = recap(stdout, region)
    layers = [counts for (host, _), counts in run.counts.items() if host == region]
    assert sum(counts.ok for counts in layers) == expected["ok"]
    assert sum(counts.changed for counts in layers) == expected["changed"] == 2
    assert run.recap == {region: expected}
    assert run.hosts() == [region]  # the indented "ok: [not-a-host]" in a message is not a result


def test_summary_proves_an_unchanged_rerun(logs, capsys):
    status = main(["--first", str(logs["us-east-1"]), "--first", str(logs["eu-west-1"]),
                   "--rerun", str(logs["rerun"])])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "lab servers:" in out
    assert "re-run: changed=0 and failed=0 in eu-west-1, us-east-1" in out
    # fakelayer: the first run changed the loop and the delegated task (which notified the
    # handler), the re-run nothing. Rows: region, then each play, then the play's roles.
    lines = out.splitlines()
    for region in ("us-east-1", "eu-west-1"):
        rows = lines[lines.index(f"  {region}") + 1:]
        assert rows[0].split()[-4:] == ["ok=1", "changed=0", "ok=1", "changed=0"], rows[0]
        assert rows[1].startswith("    Fake layer ") and rows[1].split()[-4:] == [
            "ok=6", "changed=2", "ok=5", "changed=0"], rows[1]
        assert rows[2].split() == ["fakelayer", "ok=6", "changed=2", "ok=5", "changed=0"], rows[2]
        assert rows[3].split()[-4:] == ["ok=7", "changed=2", "ok=6", "changed=0"], rows[3]


def test_summary_fails_when_the_rerun_changed_something(logs):
    first = parse_run(logs["us-east-1"].read_text())
    lines, proved = render(first, first)
    assert not proved
    assert lines[-1] == "re-run: NOT idempotent: us-east-1 changed=2 failed=0"


def test_summary_fails_on_a_rerun_without_recap():
    lines, proved = render(parse_run(""), parse_run("PLAY [x] ***\n\nTASK [y] ***\nok: [us-east-1]\n"))
    assert not proved
    assert lines[-1].startswith("re-run: its log has no PLAY RECAP")
