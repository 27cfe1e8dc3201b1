"""python -m delivery.drift --inventory inventories/<env> [--output DIR] [more ansible-playbook arguments]

Runs playbooks/drift.yml (site.yml, every layer, with tenants.yml as its last) in check mode with diff over every
region of the environment, lets the meridian.observability.drift callback write drift.json and drift.md into the
output directory (default .drift/<env>/), prints the Markdown report and exits with:

    0  nothing differs from the topology
    2  something differs (the report names each difference by region and layer)
    1  the run failed or a host was unreachable: the report is incomplete, so it is neither 0 nor 2
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
NO_DRIFT, RUN_FAILED, DRIFT = 0, 1, 2


def exit_code(playbook_rc: int, report: dict | None) -> int:
    """0, 1 or 2 from ansible-playbook's exit code and the report the callback wrote (None: it wrote none)."""
    if playbook_rc != 0 or report is None or report.get("failures"):
        return RUN_FAILED
    return DRIFT if report.get("changes") else NO_DRIFT


def environment_name(inventory: pathlib.Path) -> str:
    """The environment's name as its directory says it (inventories/<env>); the report's header only."""
    return inventory.resolve().name


def run(inventory: pathlib.Path, output: pathlib.Path, extra: list[str]) -> int:
    for stale in ("drift.json", "drift.md"):  # a report from an earlier run must never stand in for this one
        (output / stale).unlink(missing_ok=True)
    environ = dict(os.environ,
                   MERIDIAN_DRIFT_DIR=str(output),
                   MERIDIAN_DRIFT_ENVIRONMENT=environment_name(inventory),
                   ANSIBLE_CONFIG=str(REPOSITORY / "ansible.cfg"))
    playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
    command = [str(playbook), "playbooks/drift.yml", "-i", str(inventory), "--check", "--diff", *extra]
    print(f"drift: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    completed = subprocess.run(command, cwd=REPOSITORY, env=environ, check=False)
    report_path = output / "drift.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None
    if report is not None:
        print((output / "drift.md").read_text(encoding="utf-8"))
    code = exit_code(completed.returncode, report)
    verdict = {NO_DRIFT: "no drift", DRIFT: "drift found",
               RUN_FAILED: f"the run failed (ansible-playbook exit {completed.returncode}); the report is incomplete"}
    print(f"drift: {verdict[code]}; report in {output}/drift.md and drift.json (exit {code})", file=sys.stderr)
    return code


class ArgumentParser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error, which is this command's "drift found": a wrong invocation exits 1."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(RUN_FAILED, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    # allow_abbrev=False: an ansible-playbook option must never be taken for an abbreviation of ours.
    parser = ArgumentParser(prog="python -m delivery.drift", description=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
                                     epilog="Any other argument goes to ansible-playbook as it is (e.g. --tags tenant, "
                                            "-l us-east-1, -e var=value); a '--' before them is optional.")
    parser.add_argument("--inventory", required=True, type=pathlib.Path, help="inventories/<env>")
    parser.add_argument("--output", type=pathlib.Path, help="report directory (default .drift/<env>/)")
    args, extra = parser.parse_known_args(argv)
    extra = [argument for argument in extra if argument != "--"]
    inventory = args.inventory if args.inventory.is_absolute() else (pathlib.Path.cwd() / args.inventory)
    if not (inventory / "topology.yml").is_file():
        parser.error(f"--inventory {args.inventory}: no topology.yml there; give an environment's directory, "
                     "e.g. inventories/dev")
    output = args.output or REPOSITORY / ".drift" / environment_name(inventory)
    output = output if output.is_absolute() else pathlib.Path.cwd() / output
    output.mkdir(parents=True, exist_ok=True)
    return run(inventory, output, extra)


if __name__ == "__main__":
    sys.exit(main())
