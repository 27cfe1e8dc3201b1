# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift report: what a check-mode run would change, by region and layer, as JSON and Markdown."""

from __future__ import annotations

DOCUMENTATION = r"""
name: drift
type: aggregate
short_description: Report what a check-mode run would change, by region and layer
description:
  - Records every task result that reports a change while the play runs in check mode, with the host (a region of
    the topology inventory), the layer (the role the task belongs to), the task, the loop item (or the changed
    tenants of a module that converges many at once, or the one Kubernetes object applied) and the diff.
  - Records failed and unreachable hosts too, so a run that broke never reads as "no drift".
  - At the end of the run writes C(drift.json) and C(drift.md) into O(output_dir) and prints a short summary, which
    is what an AWX job's output shows.
  - Stays silent unless O(output_dir) is set or the playbook is C(drift.yml), so ordinary runs are untouched even
    when the callback is enabled in C(ansible.cfg).
  - Results of C(no_log) tasks are recorded as a change without their diff.
version_added: 0.1.0
author: meridian platform engineering (@meridian)
requirements:
  - Enabled through C(callbacks_enabled) in C(ansible.cfg) (this collection's C(ansible.cfg) enables it).
options:
  output_dir:
    description:
      - Directory that receives C(drift.json) and C(drift.md); created if missing.
      - When unset or empty, a C(drift.yml) run prints its summary and writes no file.
    type: str
    env:
      - name: MERIDIAN_DRIFT_DIR
    ini:
      - section: callback_drift
        key: output_dir
  environment_name:
    description:
      - The environment the report is about, written into the report's header.
      - When empty, the environment's name from the topology inventory (its C(env_<name>) group) is used, which is
        what an AWX job's report shows.
    type: str
    default: ""
    env:
      - name: MERIDIAN_DRIFT_ENVIRONMENT
    ini:
      - section: callback_drift
        key: environment_name
  max_diff_chars:
    description: A longer diff of one change is cut to this many characters (the report says so).
    type: int
    default: 20000
    env:
      - name: MERIDIAN_DRIFT_MAX_DIFF_CHARS
"""

import datetime
import json
import os
import re

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.callback import CallbackBase

COLLECTION_PREFIX = "meridian.observability."
HIDDEN_DIFF = "(diff hidden: the task is no_log)"
HIDDEN_MESSAGE = "(hidden: the task is no_log)"
REDACTED = "(redacted Secret value)"
REDACTED_BEFORE = "(redacted Secret value, differs: before)"
REDACTED_AFTER = "(redacted Secret value, differs: after)"
SUMMARY_LINES = 40
PLAYBOOK_NAME = "drift.yml"
ENVIRONMENT_GROUP_PREFIX = "env_"  # meridian.observability.topology puts every region in env_<environment>
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def diffs_of(outcome: dict) -> list:
    """A result's diffs: its own, or those of the resources a multi-resource kubernetes.core.k8s apply changed
    (that module reports them per resource, under result.results, each headed here by kind/name)."""
    own = outcome.get("diff")
    if own:
        return own if isinstance(own, list) else [own]
    nested = outcome.get("result")
    if not isinstance(nested, dict) or not isinstance(nested.get("results"), list):
        return []
    diffs = []
    for resource in nested["results"]:
        if not isinstance(resource, dict) or not resource.get("changed") or not isinstance(resource.get("diff"), dict):
            continue
        diff = dict(resource["diff"])
        stored = resource.get("result") if isinstance(resource.get("result"), dict) else {}
        identity = "{0}/{1}".format(stored.get("kind", "object"), stored.get("metadata", {}).get("name", "?"))
        diff.setdefault("before_header", identity)
        diff.setdefault("after_header", identity)
        diffs.append(diff)
    return diffs


def layer_of(task, play_name: str) -> str:
    """The outermost role a task belongs to, without our collection's prefix; the play's name outside roles.

    Outermost, because layers include helper roles (network, eks and observability include aws_session, istio
    includes keycloak's realm_facts): a change made through one belongs to the layer that included it. The parent
    chain runs task -> block -> include_role task -> block of the including role -> ..."""
    outermost = None
    node = task
    while node is not None:
        role = getattr(node, "_role", None)
        if role is not None:
            outermost = role
        node = getattr(node, "_parent", None)
    if outermost is None:
        return play_name or "(play)"
    name = outermost.get_name()
    return name[len(COLLECTION_PREFIX):] if name.startswith(COLLECTION_PREFIX) else name


def redact_secret_objects(value):
    """``value`` with the data and stringData of every Kubernetes Secret in it replaced by markers.

    kubernetes.core.k8s reports the whole object as its diff, so the check-mode diff of a Secret the role applies
    without no_log (e.g. a service-account token Secret whose labels drifted) would carry the token the cluster
    filled in. Each key stays, so the report still shows which key differs, never what it holds."""
    if isinstance(value, list):
        return [redact_secret_objects(element) for element in value]
    if not isinstance(value, dict):
        return value
    redacted = {key: redact_secret_objects(element) for key, element in value.items()}
    if value.get("kind") == "Secret":
        for field in ("data", "stringData"):
            if isinstance(value.get(field), dict):
                redacted[field] = {key: REDACTED for key in value[field]}
    return redacted


def redact_diff(diff: dict) -> dict:
    """A diff whose before and after hide every Secret's values; a value that differs is marked so on both sides,
    so the rendered diff still has a line for it."""
    before, after = diff.get("before"), diff.get("after")
    if not isinstance(before, dict) and not isinstance(after, dict):
        return diff
    safe = dict(diff)
    safe["before"], safe["after"] = redact_secret_objects(before), redact_secret_objects(after)
    if isinstance(before, dict) and isinstance(after, dict) and before.get("kind") == after.get("kind") == "Secret":
        for field in ("data", "stringData"):
            old, new = before.get(field), after.get(field)
            if not isinstance(old, dict) or not isinstance(new, dict):
                continue
            for key in set(old) & set(new):
                if old[key] != new[key]:
                    safe["before"][field][key] = REDACTED_BEFORE
                    safe["after"][field][key] = REDACTED_AFTER
    return safe


def changed_items_label(outcome: dict) -> str:
    """What a task without a loop changed, as a loop item would name it: the changed tenants of a plural tenant
    module (its C(tenants) mapping by name, comma separated), or C(Kind/name) of the one Kubernetes object a
    kubernetes.core.k8s task applied. One call converges many tenants or objects, so these are the items."""
    tenants = outcome.get("tenants")
    if isinstance(tenants, dict):
        return ", ".join(sorted(name for name, entry in tenants.items()
                                if isinstance(entry, dict) and entry.get("changed")))
    applied = outcome.get("result")
    if isinstance(applied, dict) and applied.get("kind") and isinstance(applied.get("metadata"), dict):
        return f"{applied['kind']}/{applied['metadata'].get('name', '')}"
    return ""


def group_changes(changes: list[dict]) -> dict:
    """{region: {layer: count}} in sorted order."""
    summary: dict = {}
    for change in changes:
        layers = summary.setdefault(change["region"], {})
        layers[change["layer"]] = layers.get(change["layer"], 0) + 1
    return {region: dict(sorted(layers.items())) for region, layers in sorted(summary.items())}


def render_markdown(report: dict) -> str:
    """The report for people: a region x layer table, then each change with its diff."""
    title = f"# Drift report: {report['environment'] or 'unnamed environment'}"
    lines = [title, "", f"Generated {report['generated_at']} by a check-mode run of `{report['playbook']}`.", ""]
    if report["failures"]:
        lines += [f"**The run failed on {len(report['failures'])} task(s); the report is incomplete.**", ""]
        for failure in report["failures"]:
            lines.append(f"- {failure['region']} / {failure['layer']}: {failure['task']}: {failure['message']}")
        lines.append("")
    if not report["changes"]:
        lines.append("No drift: every layer of every region matches the topology." if not report["failures"]
                     else "No drift was found in what ran.")
        return "\n".join(lines) + "\n"
    lines += [f"{len(report['changes'])} difference(s) from the topology.", "", "| region | layer | differences |",
              "|---|---|---|"]
    for region, layers in report["summary"].items():
        for layer, count in layers.items():
            lines.append(f"| {region} | {layer} | {count} |")
    for region, layers in report["summary"].items():
        lines += ["", f"## {region}"]
        for layer in layers:
            lines += ["", f"### {layer}"]
            for change in report["changes"]:
                if change["region"] != region or change["layer"] != layer:
                    continue
                item = f" ({change['item']})" if change["item"] else ""
                lines += ["", f"- {change['task']}{item}"]
                if change["diff"]:
                    lines += ["", "```diff", change["diff"].rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def summary_lines(report: dict) -> list[str]:
    """One line per failure and per difference, for the end of the run's output."""
    lines = [f"drift: FAILED {f['region']} / {f['layer']}: {f['task']}: {f['message']}" for f in report["failures"]]
    for change in sorted(report["changes"], key=lambda c: (c["region"], c["layer"])):
        item = f" ({change['item']})" if change["item"] else ""
        lines.append(f"drift:   {change['region']} / {change['layer']}: {change['task']}{item}")
    return lines


def _by_place(entry: dict) -> tuple:
    """Sort key of changes and failures: region, then layer (sorted() is stable: the run's order within a layer)."""
    return entry["region"], entry["layer"]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "meridian.observability.drift"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._active = False
        self._playbook = ""
        self._play_name = ""
        self._changes: list[dict] = []
        self._inventory_environments: set[str] = set()
        self._failures: list[dict] = []

    # ------------------------------------------------------------------ what the run reports
    def _output_dir(self) -> str:
        # A str option, not a path: Ansible would turn an empty path into the current directory.
        value = self.get_option("output_dir") or ""
        return os.path.abspath(os.path.expanduser(value)) if value else ""

    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.basename(to_text(playbook._file_name))
        self._active = bool(self._output_dir()) or self._playbook == PLAYBOOK_NAME

    def v2_playbook_on_play_start(self, play):
        self._play_name = to_text(play.get_name()).strip()

    def v2_runner_on_ok(self, result):
        if not self._active:
            return
        self._note_environment(result._host)
        # A task marked check_mode: false really ran (a render into a work directory): its change is not drift.
        if not result._task.check_mode:
            return
        outcome = result._result
        if "results" in outcome and isinstance(outcome["results"], list):
            for item_result in outcome["results"]:
                if isinstance(item_result, dict) and item_result.get("changed"):
                    self._record_change(result, item_result, self._item_label(result._task, item_result))
        elif outcome.get("changed"):
            self._record_change(result, outcome, "" if result._task.no_log else changed_items_label(outcome))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._active and not ignore_errors:
            self._record_failure(result, to_text(result._result.get("msg", "failed")))

    def v2_runner_on_unreachable(self, result):
        if self._active:
            self._record_failure(result, "unreachable: " + to_text(result._result.get("msg", "")))

    def v2_playbook_on_stats(self, stats):
        if not self._active:
            return
        report = self.report()
        output_dir = self._output_dir()
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
            with open(os.path.join(output_dir, "drift.json"), "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=2, sort_keys=True)
                handle.write("\n")
            with open(os.path.join(output_dir, "drift.md"), "w", encoding="utf-8") as handle:
                handle.write(render_markdown(report))
        self._display.banner("DRIFT REPORT")
        if report["failures"]:
            self._display.display(f"drift: the run failed on {len(report['failures'])} task(s); the report is incomplete")
        if not report["changes"]:
            self._display.display("drift: none in what ran" if report["failures"] else
                                  "drift: none, every layer of every region matches the topology")
        for region, layers in report["summary"].items():
            for layer, count in layers.items():
                self._display.display(f"drift: {region} / {layer}: {count} difference(s)")
        # Without an output directory (an AWX job) the job's output is the only report: name each difference and
        # failure, the diffs themselves are above in the run's --diff output.
        named = summary_lines(report)
        for line in named[:SUMMARY_LINES]:
            self._display.display(line)
        if len(named) > SUMMARY_LINES:
            self._display.display(f"drift: ... and {len(named) - SUMMARY_LINES} more (drift.md has them all)")
        if output_dir:
            self._display.display(f"drift: report in {os.path.join(output_dir, 'drift.md')} and drift.json")

    # ------------------------------------------------------------------ the report
    def report(self) -> dict:
        return {
            "environment": self.get_option("environment_name") or ",".join(sorted(self._inventory_environments)),
            "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "playbook": self._playbook,
            "counts": {"changes": len(self._changes), "failures": len(self._failures)},
            "changes": sorted(self._changes, key=_by_place),
            "failures": sorted(self._failures, key=_by_place),
            "summary": group_changes(self._changes),
        }

    def _note_environment(self, host) -> None:
        self._inventory_environments.update(group.name[len(ENVIRONMENT_GROUP_PREFIX):] for group in host.get_groups()
                                            if group.name.startswith(ENVIRONMENT_GROUP_PREFIX))

    def _where(self, result) -> dict:
        self._note_environment(result._host)
        return {
            "region": result._host.get_name(),
            "layer": layer_of(result._task, self._play_name),
            "task": to_text(result._task.name or result._task.action).strip(),
        }

    def _item_label(self, task, item_result: dict) -> str:
        if item_result.get("_ansible_no_log") or task.no_log:
            return ""
        label = item_result.get("_ansible_item_label", item_result.get("item", ""))
        return label if isinstance(label, str) else json.dumps(label, sort_keys=True, default=str)

    def _record_change(self, result, outcome: dict, item: str) -> None:
        change = self._where(result)
        change["item"] = item
        if outcome.get("_ansible_no_log") or result._task.no_log:
            change["diff"] = HIDDEN_DIFF
        else:
            diffs = [redact_diff(diff) if isinstance(diff, dict) else diff for diff in diffs_of(outcome)]
            # _get_diff colours its lines when the terminal has colour; the report is a file, not a terminal.
            change["diff"] = self._limited(ANSI_ESCAPE.sub("", self._get_diff(diffs))) if diffs else ""
        self._changes.append(change)

    def _record_failure(self, result, message: str) -> None:
        failure = self._where(result)
        hidden = result._task.no_log or result._result.get("_ansible_no_log")
        failure["message"] = HIDDEN_MESSAGE if hidden else message
        self._failures.append(failure)

    def _limited(self, text: str) -> str:
        limit = self.get_option("max_diff_chars")
        if len(text) <= limit:
            return text
        return text[:limit] + f"\n... (cut at {limit} characters)\n"
