"""Run Ansible's own command-line tools from tests, the way a platform engineer runs them.

Every test that needs ``ansible``, ``ansible-playbook`` or ``ansible-inventory`` goes through here, so the
environment (this checkout's ansible.cfg, no colour, the venv's interpreter, temp dirs inside the checkout)
is set in one place.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys
import uuid
from typing import Any

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
JSON_CALLBACK = "ansible.posix.json"


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment every Ansible command in the tests runs with; ``extra`` adds or overrides variables."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOME=str(REPO / ".ansible"), ANSIBLE_LOCAL_TEMP=str(REPO / ".ansible" / "tmp"))
    env.update(extra)
    return env


def run_ansible(tool: str, *args: str, check: bool = True, json_output: bool = False, timeout: int = 900,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``tool`` (e.g. "ansible-playbook") from the venv in the repository root.

    ``check`` asserts a zero exit status (the failure shows the output's tail); ``json_output`` selects the
    json stdout callback so the caller can parse per-task results.
    """
    extra = {"ANSIBLE_STDOUT_CALLBACK": JSON_CALLBACK, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"} if json_output else {}
    completed = subprocess.run([str(BIN / tool), *args], cwd=REPO, env=ansible_env(**extra) | (env or {}),
                               capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert completed.returncode == 0, (f"{tool} {' '.join(args)} exited {completed.returncode}:\n"
                                           f"{completed.stdout[-6000:]}\n{completed.stderr[-3000:]}")
    return completed


def unwrap_unsafe(value: Any) -> Any:
    """ansible-inventory --list wraps the plugin's strings as {'__ansible_unsafe': value}; the values only."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: unwrap_unsafe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_unsafe(item) for item in value]
    return value


def recap(stdout: str, host: str) -> dict[str, int]:
    """The PLAY RECAP counters of ``host`` from the default callback's output, e.g. {"changed": 0, ...}."""
    tail = stdout[stdout.rindex("PLAY RECAP"):]
    line = re.search(rf"^{re.escape(host)}\s+:\s+(.*)$", tail, re.M)
    assert line, f"no recap line for {host}:\n{tail}"
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def _parse_json(completed: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(completed.stdout)
    except ValueError:
        raise AssertionError(f"no JSON from Ansible (rc {completed.returncode}):\n{completed.stdout}\n{completed.stderr}")


def run_module(module: str, args: dict, *, check: bool = False, diff: bool = False, timeout: int = 180,
               env: dict[str, str] | None = None) -> dict:
    """Run one module against localhost with ``ansible -m``; returns that host's result (never asserts)."""
    command = ["localhost", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
               "-m", module, "-a", json.dumps(args)]
    command += ["--check"] if check else []
    command += ["--diff"] if diff else []
    output = _parse_json(run_ansible("ansible", *command, check=False, json_output=True, timeout=timeout, env=env))
    return output["plays"][0]["tasks"][0]["hosts"]["localhost"]


def run_tasks(directory: pathlib.Path, tasks: list[dict], *, module_defaults: dict | None = None,
              check: bool = False, diff: bool = False, extra_args: tuple[str, ...] = (), timeout: int = 300,
              env: dict[str, str] | None = None) -> tuple[list[dict], subprocess.CompletedProcess]:
    """Run ``tasks`` as one localhost play with ansible-playbook; returns (each task's localhost result, the run).

    The playbook is written into ``directory`` (a pytest tmp_path); results come from the json callback.
    """
    play: dict[str, Any] = {"name": "under test", "hosts": "localhost", "gather_facts": False, "tasks": tasks}
    if module_defaults:
        play["module_defaults"] = module_defaults
    path = directory / f"play-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    command = [str(path), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
               *extra_args]
    command += ["--check"] if check else []
    command += ["--diff"] if diff else []
    completed = run_ansible("ansible-playbook", *command, check=False, json_output=True, timeout=timeout, env=env)
    output = _parse_json(completed)
    results = [task["hosts"].get("localhost", {}) for play_output in output["plays"] for task in play_output["tasks"]]
    return results, completed


def role_refusals(directory: pathlib.Path, role: str, cases: list[tuple[str, dict] | tuple[str, dict, str]], *,
                  host: str, inventory: str = "inventories/lab", timeout: int = 900) -> list[dict]:
    """Run `role` once per (hosts, vars) case in ONE ansible-playbook process and say how each run ended.

    Each case is a play whose role runs in a block; its rescue records which task stopped it and what that task
    returned. One process instead of one per case keeps bad-input suites cheap. A case may name a third item, the
    role's tasks file to run (e.g. "preflight.yml" for a valid twin that must pass the checks without converging).
    Returns, per case in order, {"refused": False} or
    {"refused": True, "task": <task name>, "result": <the failed result as JSON text>}.
    """
    outcomes = directory / "outcomes"
    outcomes.mkdir(parents=True, exist_ok=True)
    plays = []
    for number, (name, variables, *tasks_from) in enumerate(cases):
        outcome = str(outcomes / f"{number}.json")
        include = {"name": role} | ({"tasks_from": tasks_from[0]} if tasks_from else {})
        plays.append({
            "name": name, "hosts": host, "gather_facts": False, "vars": variables,
            "tasks": [{"block": [
                {"name": "The role", "ansible.builtin.include_role": include},
                {"name": "Not refused", "ansible.builtin.copy": {
                    "content": json.dumps({"refused": False}), "dest": outcome, "mode": "0600"}}],
                "rescue": [{"name": "Record the refusal", "ansible.builtin.copy": {
                    "content": "{{ {'refused': true, 'task': ansible_failed_task.name,"
                               " 'result': ansible_failed_result | to_json} | to_json }}",
                    "dest": outcome, "mode": "0600"}}]}]})
    playbook = directory / "refusals.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    run_ansible("ansible-playbook", str(playbook), "-i", inventory, "-l", host, timeout=timeout)
    return [json.loads((outcomes / f"{number}.json").read_text()) for number in range(len(cases))]


@dataclasses.dataclass
class PlaysRun:
    """What one ansible-playbook process of several plays did: each play's task results on one host, and the run."""

    plays: dict[str, list[tuple[str, dict]]]  # play name -> (task name, that host's result) in order
    stats: dict[str, dict[str, int]]  # host -> the recap counters, e.g. {"changed": 0, ...}
    completed: subprocess.CompletedProcess


def run_plays(directory: pathlib.Path, plays: list[dict], *, host: str = "localhost", inventory: str | None = None,
              check: bool = False, diff: bool = False, timeout: int = 900,
              env: dict[str, str] | None = None) -> PlaysRun:
    """Run ``plays`` (each with a unique name) in ONE ansible-playbook process; one process instead of one per case.

    Without ``inventory`` the plays run against ``-i localhost,`` locally with the venv's interpreter, as run_tasks
    does. A play that must not stop the plays after it wraps its tasks in a block with a rescue: the failed task's
    result is still reported, with "failed": true.
    """
    names = [play["name"] for play in plays]
    assert len(set(names)) == len(names), f"play names must be unique: {names}"
    path = directory / f"plays-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    if inventory is None:
        command = [str(path), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
    else:
        command = [str(path), "-i", inventory]
    command += ["--check"] if check else []
    command += ["--diff"] if diff else []
    completed = run_ansible("ansible-playbook", *command, check=False, json_output=True, timeout=timeout, env=env)
    output = _parse_json(completed)
    results = {play_output["play"]["name"]: [(task["task"]["name"], task["hosts"][host])
                                            for task in play_output["tasks"] if host in task["hosts"]]
               for play_output in output["plays"]}
    return PlaysRun(plays=results, stats=output.get("stats", {}), completed=completed)
