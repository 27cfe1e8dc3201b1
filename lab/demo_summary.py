"""The closing summary of `make demo`: what runs, what converged, and that the re-run changed nothing.

    python -m lab.demo_summary --first LOG [--first LOG ...] --rerun LOG

Reads the output of ansible-playbook's default callback (what `make demo` tees into
.ansible/demo/) and counts, per region, the tasks that were ok and changed the way the
PLAY RECAP counts them. A layer is a play of site.yml (network, eks, platform, tenants);
under each play its roles are listed. The table shows the first runs and the re-run
side by side with the recap totals. Exits 1 when the re-run changed anything, failed,
or its log has no PLAY RECAP.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
PLAY = re.compile(r"^PLAY \[(?P<name>.*)\] \*+$")
TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?:(?P<role>[^\]:]+?) : )?(?P<name>.*)\] \*+$")
RESULT = re.compile(r"^(?P<status>ok|changed|skipping|failed|fatal|unreachable): "
                    r"\[(?P<host>[^\]\s]+)(?: -> [^\]]+)?\]")
INCLUDED = re.compile(r"^included: .* for (?P<hosts>.+)$")
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+: (?P<counts>(?:\w+=\d+\s*)+)$")

#: (play name, role short name, or "" for the play's own tasks such as include_role launchers)
Layer = tuple[str, str]


@dataclass
class LayerCounts:
    """Tasks of one layer on one host, counted as the PLAY RECAP does (ok includes changed)."""

    ok: int = 0
    changed: int = 0
    failed: int = 0

    def add(self, other: LayerCounts) -> None:
        self.ok += other.ok
        self.changed += other.changed
        self.failed += other.failed

    def __str__(self) -> str:
        text = f"ok={self.ok} changed={self.changed}"
        return text + (f" failed={self.failed}" if self.failed else "")


@dataclass
class RunLog:
    """One or more ansible-playbook runs: counts per (host, play, role) and the recap per host."""

    counts: dict[tuple[str, Layer], LayerCounts] = field(default_factory=dict)
    order: list[Layer] = field(default_factory=list)
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    def hosts(self) -> list[str]:
        return list(dict.fromkeys(host for host, _ in self.counts))

    def play_total(self, host: str, play: str) -> LayerCounts | None:
        parts = [counts for (counts_host, (counts_play, _)), counts in self.counts.items()
                 if counts_host == host and counts_play == play]
        if not parts:
            return None
        total = LayerCounts()
        for part in parts:
            total.add(part)
        return total


def _task_outcome(statuses: set[str]) -> LayerCounts:
    """One task on one host: the status lines it printed (items included) -> recap counts."""
    counts = LayerCounts()
    if statuses & {"failed", "fatal", "unreachable"}:
        counts.failed = 1
    elif statuses & {"ok", "changed", "included", "ignored"}:
        counts.ok = 1
        counts.changed = int("changed" in statuses)
    return counts


def parse_run(text: str) -> RunLog:
    """Count the tasks of one run's default-callback output."""
    run = RunLog()
    play = ""
    layer: Layer = ("", "")
    task_statuses: dict[str, set[str]] = defaultdict(set)
    last_failed_host = ""
    in_recap = False

    def close_task() -> None:
        for host, statuses in task_statuses.items():
            run.counts.setdefault((host, layer), LayerCounts()).add(_task_outcome(statuses))
        task_statuses.clear()

    for raw in text.splitlines():
        line = ANSI_ESCAPE.sub("", raw).rstrip()
        if in_recap:
            recap = RECAP_LINE.match(line)
            if recap:
                run.recap[recap["host"]] = {key: int(value) for key, value in
                                            re.findall(r"(\w+)=(\d+)", recap["counts"])}
            continue
        if line.startswith("PLAY RECAP "):
            close_task()
            in_recap = True
        elif match := PLAY.match(line):
            close_task()
            play = match["name"]
        elif match := TASK.match(line):
            close_task()
            layer = (play, match["role"].rsplit(".", 1)[-1] if match["role"] else "")
            if layer not in run.order:
                run.order.append(layer)
        elif match := RESULT.match(line):
            task_statuses[match["host"]].add(match["status"])
            if match["status"] in ("failed", "fatal"):
                last_failed_host = match["host"]
        elif match := INCLUDED.match(line):
            for host in match["hosts"].split(","):
                task_statuses[host.strip()].add("included")
        elif line == "...ignoring" and last_failed_host:
            # An ignored failure counts as ok (and as ignored) in the recap.
            statuses = task_statuses[last_failed_host]
            statuses -= {"failed", "fatal"}
            statuses.add("ignored")
    close_task()
    return run


def merge(runs: list[RunLog]) -> RunLog:
    """Several runs (the first run of each region) as one."""
    merged = RunLog()
    for run in runs:
        for key, counts in run.counts.items():
            merged.counts.setdefault(key, LayerCounts()).add(counts)
        merged.order += [layer for layer in run.order if layer not in merged.order]
        for host, recap in run.recap.items():
            total = merged.recap.setdefault(host, {})
            for key, value in recap.items():
                total[key] = total.get(key, 0) + value
    return merged


def lab_servers() -> str:
    """The lab's servers and their health, from the same code as `python -m lab status`."""
    try:
        from lab.runtime import Lab

        rows = Lab().status()
    except Exception as err:  # noqa: BLE001 - the summary must not hide the demo's result
        return f"lab servers: status unavailable ({err})"
    healthy = [row["service"] for row in rows if row["state"] == "healthy"]
    others = [f"{row['service']} ({row['state']})" for row in rows if row["state"] != "healthy"]
    text = f"lab servers: {len(healthy)}/{len(rows)} healthy: {', '.join(healthy) or '-'}"
    text += f"; not healthy: {', '.join(others)}" if others else ""
    return textwrap.fill(text, width=110, subsequent_indent="  ", break_on_hyphens=False)


def _recap_counts(recap: dict[str, int] | None) -> str:
    if recap is None:
        return "-"
    return str(LayerCounts(ok=recap.get("ok", 0), changed=recap.get("changed", 0),
                           failed=recap.get("failed", 0) + recap.get("unreachable", 0)))


def render(first: RunLog, rerun: RunLog) -> tuple[list[str], bool]:
    """The summary lines, and whether the demo proved what it should."""
    order = first.order + [layer for layer in rerun.order if layer not in first.order]
    plays = list(dict.fromkeys(play for play, _ in order))
    width = max([len(play) + 2 for play in plays]
                + [len(role) + 4 for _, role in order] + [len("total (PLAY RECAP)") + 2])
    lines = [f"  {'region / play / its roles':<{width}}  {'first run':<22} re-run"]
    for host in list(dict.fromkeys(first.hosts() + rerun.hosts())):
        lines.append(f"  {host}")
        for play in plays:
            before, after = first.play_total(host, play), rerun.play_total(host, play)
            if before is None and after is None:
                continue
            lines.append(f"    {play:<{width - 2}}  {str(before or '-'):<22} {after or '-'}")
            for layer in order:
                if layer[0] != play or not layer[1]:
                    continue
                before = first.counts.get((host, layer))
                after = rerun.counts.get((host, layer))
                if before or after:
                    lines.append(f"      {layer[1]:<{width - 4}}  {str(before or '-'):<22} {after or '-'}")
        totals = [_recap_counts(run.recap.get(host)) for run in (first, rerun)]
        lines.append(f"    {'total (PLAY RECAP)':<{width - 2}}  {totals[0]:<22} {totals[1]}")

    proved = True
    if not rerun.recap:
        lines.append("re-run: its log has no PLAY RECAP; the run did not finish")
        proved = False
    else:
        changed = {host: recap.get("changed", 0) for host, recap in rerun.recap.items()}
        failed = {host: recap.get("failed", 0) + recap.get("unreachable", 0)
                  for host, recap in rerun.recap.items()}
        if any(changed.values()) or any(failed.values()):
            proved = False
            lines.append("re-run: NOT idempotent: " + ", ".join(
                f"{host} changed={changed[host]} failed={failed[host]}" for host in sorted(changed)))
        else:
            lines.append(f"re-run: changed=0 and failed=0 in {', '.join(sorted(changed))}: "
                         "every layer converged and a second run changes nothing")
    return lines, proved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.demo_summary", description=__doc__.split("\n")[0])
    parser.add_argument("--first", action="append", type=Path, required=True, metavar="LOG",
                        help="output of a first site.yml run (repeat per region)")
    parser.add_argument("--rerun", type=Path, required=True, metavar="LOG",
                        help="output of the second site.yml run over every region")
    args = parser.parse_args(argv)
    first = merge([parse_run(path.read_text(errors="replace")) for path in args.first])
    rerun = parse_run(args.rerun.read_text(errors="replace"))
    lines, proved = render(first, rerun)
    print("== make demo: summary")
    print(lab_servers())
    print("layers converged per region (tasks counted as the PLAY RECAP counts them; ok includes changed):")
    for line in lines:
        print(line)
    return 0 if proved else 1


if __name__ == "__main__":
    sys.exit(main())
