"""The observability role's rendering, through ansible-playbook, with no server.

The role renders each region's configuration from the lab topology (inventories/lab) into a temporary directory: the
play's hosts are the lab's regions, which the inventory runs locally, and the render tasks touch no server. Prometheus
files are checked with the lab's promtool and Thanos flags against the lab's thanos binary; Loki, Fluent Bit and
Grafana cannot run here, so their files are checked against their documented schemas by the checkers below, each of
which is shown failing on a broken document too.
"""

from __future__ import annotations

import configparser
import copy
import json
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

from tests.support.ansible import REPO, recap, run_ansible, run_plays, run_tasks, unwrap_unsafe

REGIONS = ("us-east-1", "eu-west-1")
# acme is the platform tenant of us-east-1 only, so both the platform route and its absence are rendered.
PLATFORM_TENANT = {"us-east-1": "acme", "eu-west-1": ""}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def built_lab_tool(name: str) -> tuple[str | None, str]:
    """(path of the lab's ``name``, or None when it is not built yet, and why not)."""
    completed = subprocess.run([sys.executable, "-m", "lab", "tool-path", name], cwd=REPO, capture_output=True,
                               text=True, check=False)
    path = completed.stdout.strip()
    if completed.returncode != 0 or not pathlib.Path(path).is_file():
        return None, completed.stderr.strip()
    return path, ""


def lab_tool(name: str) -> str:
    path, missing = built_lab_tool(name)
    if path is None:
        pytest.skip(f"{name} is not built in the lab cache ({missing}); run make lab-up once")
    return path


@pytest.fixture(scope="module")
def promtool() -> str:
    return lab_tool("promtool")


@pytest.fixture(scope="module")
def hostvars() -> dict:
    # One --list for both regions (one process, not one per region); it wraps the plugin's strings, unwrapped here.
    listing = unwrap_unsafe(json.loads(run_ansible("ansible-inventory", "-i", "inventories/lab", "--list").stdout))
    return {region: listing["_meta"]["hostvars"][region] for region in REGIONS}


def served(hostvars: dict, region: str) -> dict:
    """The topology's tenants that ``region`` serves, by name (the inventory plugin's view, defaults filled)."""
    return {tenant["name"]: tenant for tenant in hostvars[region]["meridian_tenants"]
            if tenant.get("state", "present") == "present" and region in tenant["regions"]}


def write_play(directory: pathlib.Path, render_root: pathlib.Path, promtool: str, **variables) -> pathlib.Path:
    role_vars = {
        "observability_render_dir": f"{render_root}/{{{{ inventory_hostname }}}}",
        "observability_promtool_path": promtool,
        "observability_platform_tenant": "{{ 'acme' if inventory_hostname == 'us-east-1' else '' }}",
        "observability_s3_endpoint_url": "{{ meridian_aws_endpoint_url }}",
        # No server here: the bucket and the Thanos Receive ConfigMap are tests/integration/test_observability_role.py's.
        "observability_manage_bucket": False,
        "observability_manage_thanos_tenants": False,
    } | variables
    play = [{"name": "Render the observability layer (no server)", "hosts": "all", "gather_facts": False,
             "tasks": [{"name": "Observability role", "ansible.builtin.include_role":
                        {"name": "meridian.observability.observability"}, "vars": role_vars}]}]
    path = directory / "render.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return path


def playbook(path: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return run_ansible("ansible-playbook", "-i", "inventories/lab", str(path), *args, check=False, timeout=600)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, promtool) -> tuple[pathlib.Path, pathlib.Path, str]:
    """(render root with one directory per region, the play, the first run's output)."""
    directory = tmp_path_factory.mktemp("observability")
    root = directory / "rendered"
    play = write_play(directory, root, promtool)
    first = playbook(play)
    assert first.returncode == 0, first.stdout[-6000:]
    return root, play, first.stdout


def load(root: pathlib.Path, region: str, relative: str):
    return yaml.safe_load((root / region / relative).read_text())


# --- schema checkers (Loki, Fluent Bit, Grafana cannot run in the lab) ------------------------------------------

# Loki's runtime configuration (docs: "Runtime configuration file"): overrides keyed by tenant id, each a subset of
# limits_config. Types of the limits this platform sets.
LOKI_RUNTIME_KEYS = {"overrides", "configs", "multi_kv_config"}
LOKI_LIMIT_TYPES = {"ingestion_rate_mb": (int, float), "ingestion_burst_size_mb": (int, float),
                    "max_streams_per_user": int, "max_query_series": int, "max_line_size": int,
                    "retention_period": "duration"}


def loki_runtime_problems(document, tenants: dict, overrides: dict | None = None) -> list[str]:
    """What is wrong with a Loki runtime config for ``tenants`` (name -> topology tenant); [] when it is right."""
    if not isinstance(document, dict):
        return ["the document is not a mapping"]
    problems = [f"unknown top-level key {key}" for key in set(document) - LOKI_RUNTIME_KEYS]
    limits_by_tenant = document.get("overrides")
    if not isinstance(limits_by_tenant, dict):
        return problems + ["overrides is missing or not a mapping"]
    if set(limits_by_tenant) != set(tenants):
        problems.append(f"overrides has tenants {sorted(limits_by_tenant)}, the topology {sorted(tenants)}")
    for name, limits in limits_by_tenant.items():
        if not isinstance(limits, dict):
            problems.append(f"{name}: limits are not a mapping")
            continue
        for key, value in limits.items():
            kind = LOKI_LIMIT_TYPES.get(key)
            if kind is None:
                problems.append(f"{name}: {key} is not a limit this platform sets")
            elif kind == "duration":
                if not isinstance(value, str) or not DURATION.match(value):
                    problems.append(f"{name}: {key}={value!r} is not a Loki duration")
            elif isinstance(value, bool) or not isinstance(value, kind):
                problems.append(f"{name}: {key}={value!r} has the wrong type")
        logs = dict(tenants.get(name, {}).get("logs") or {})
        expected = {"ingestion_rate_mb": logs.get("ingestion_rate_mb"), "ingestion_burst_size_mb":
                    logs.get("ingestion_burst_size_mb"), "max_streams_per_user": logs.get("max_streams_per_user"),
                    "retention_period": logs.get("retention")}
        expected = {key: value for key, value in expected.items() if value is not None} | (overrides or {}).get(name, {})
        if name in tenants and limits != expected:
            problems.append(f"{name}: limits {limits} differ from the topology's {expected}")
    return problems


# Fluent Bit's YAML configuration (docs: "YAML configuration file"): sections and plugin lists.
FLUENT_BIT_SECTIONS = {"env", "includes", "service", "parsers", "multiline_parsers", "pipeline", "plugins",
                       "upstream_servers", "customs"}
FLUENT_BIT_INPUTS = {"tail", "systemd", "forward", "dummy"}
FLUENT_BIT_FILTERS = {"kubernetes", "rewrite_tag", "modify", "record_modifier", "grep", "nest", "lua"}
FLUENT_BIT_OUTPUTS = {"loki", "stdout", "null", "forward"}
# Each plugin's documented parameters (Fluent Bit manual: inputs/tail, filters/kubernetes, rewrite-tag, modify,
# outputs/loki, whose tenant_id is sent as the X-Scope-OrgID header); common keys are valid for every plugin.
FLUENT_BIT_COMMON_KEYS = {"name", "alias", "log_level", "match", "match_regex", "tag", "retry_limit", "workers",
                          "storage.type", "storage.total_limit_size", "threaded"}
FLUENT_BIT_PLUGIN_KEYS = {
    "tail": {"path", "exclude_path", "multiline.parser", "mem_buf_limit", "skip_long_lines", "db", "db.sync",
             "refresh_interval", "read_from_head", "buffer_chunk_size", "buffer_max_size", "path_key", "parser"},
    "kubernetes": {"kube_url", "kube_tag_prefix", "merge_log", "merge_log_key", "keep_log", "labels", "annotations",
                   "k8s-logging.parser", "k8s-logging.exclude", "buffer_size", "use_kubelet", "kube_token_file",
                   "kube_ca_file"},
    "rewrite_tag": {"rule", "emitter_name", "emitter_storage.type", "emitter_mem_buf_limit"},
    "modify": {"set", "add", "remove", "rename", "hard_rename", "copy", "hard_copy", "condition"},
    "loki": {"host", "port", "uri", "tls", "tls.verify", "tenant_id", "tenant_id_key", "bearer_token", "http_user",
             "http_passwd", "labels", "label_keys", "label_map_path", "remove_keys", "drop_single_key", "line_format",
             "auto_kubernetes_labels", "structured_metadata", "header", "compress"},
}


def fluent_bit_glob(pattern: str, tag: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), tag) is not None


def fluent_bit_route(document: dict, namespace: str) -> list[dict]:
    """The outputs a container log record of ``namespace`` reaches, following the tag rewrites and matches."""
    tag = f"kube.var.log.containers.pod_{namespace}_app-0123.log"
    for step in document["pipeline"].get("filters") or []:
        if step["name"] != "rewrite_tag" or not fluent_bit_glob(step["match"], tag):
            continue
        key, regex, new_tag, keep = step["rule"].split(" ")
        assert key == "$kubernetes['namespace_name']" and keep == "false", step
        if re.search(regex, namespace):
            tag = new_tag.replace("$TAG", tag)
    return [output for output in document["pipeline"]["outputs"] if fluent_bit_glob(output["match"], tag)]


def fluent_bit_problems(document, tenants: dict, gateway_host: str, platform_tenant: str) -> list[str]:
    if not isinstance(document, dict):
        return ["the document is not a mapping"]
    problems = [f"unknown section {key}" for key in set(document) - FLUENT_BIT_SECTIONS]
    if not isinstance(document.get("service"), dict):
        problems.append("service is missing or not a mapping")
    pipeline = document.get("pipeline")
    if not isinstance(pipeline, dict) or not isinstance(pipeline.get("inputs"), list) or not pipeline["inputs"]:
        return problems + ["pipeline.inputs is missing or empty"]
    for kind, known in (("inputs", FLUENT_BIT_INPUTS), ("filters", FLUENT_BIT_FILTERS), ("outputs", FLUENT_BIT_OUTPUTS)):
        entries = pipeline.get(kind) or []
        if not isinstance(entries, list):
            problems.append(f"pipeline.{kind} is not a list")
            continue
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict) or entry.get("name") not in known:
                problems.append(f"pipeline.{kind}[{position}] has no known plugin name")
            elif kind != "inputs" and not isinstance(entry.get("match"), str):
                problems.append(f"pipeline.{kind}[{position}] ({entry['name']}) has no match")
            elif kind == "inputs" and not isinstance(entry.get("tag"), str):
                problems.append(f"pipeline.inputs[{position}] has no tag")
            else:
                unknown = set(entry) - FLUENT_BIT_COMMON_KEYS - FLUENT_BIT_PLUGIN_KEYS.get(entry["name"], set())
                if unknown:
                    problems.append(f"pipeline.{kind}[{position}] ({entry['name']}) has undocumented keys {sorted(unknown)}")
    for position, output in enumerate(pipeline.get("outputs") or []):
        if isinstance(output, dict) and output.get("name") == "loki":
            if output.get("host") != gateway_host or not isinstance(output.get("port"), int):
                problems.append(f"pipeline.outputs[{position}] does not send to the gateway {gateway_host}")
            if output.get("uri") != "/loki/api/v1/push" or output.get("tls") not in (True, False, "on", "off"):
                problems.append(f"pipeline.outputs[{position}] has a bad uri or tls")
            if output.get("tenant_id") not in tenants:
                problems.append(f"pipeline.outputs[{position}] sends as {output.get('tenant_id')!r}, not a served tenant")
    if problems:
        return problems
    # Routing: a tenant namespace's records reach exactly its own tenant's output; other namespaces the platform's.
    for namespace in [*tenants, "kube-system", "not-a-tenant"]:
        expected = namespace if namespace in tenants else platform_tenant
        reached = [output.get("tenant_id") for output in fluent_bit_route(document, namespace)]
        if reached != ([expected] if expected else []):
            problems.append(f"records of namespace {namespace} reach {reached}, expected {expected or 'none'}")
    return problems


GRAFANA_DATASOURCE_TYPES = {"prometheus", "loki"}


def grafana_problems(datasources, ini_text: str, tenant: str, gateway_url: str, realm_url: str) -> list[str]:
    """Grafana provisioning (docs: "Provision Grafana", datasources apiVersion 1) and the server's OAuth section."""
    problems = []
    if not isinstance(datasources, dict) or datasources.get("apiVersion") != 1:
        return ["datasources: apiVersion 1 is missing"]
    entries = datasources.get("datasources")
    if not isinstance(entries, list) or not entries:
        return ["datasources: the list is missing or empty"]
    for entry in entries:
        for key, kind in (("name", str), ("type", str), ("url", str), ("orgId", int), ("uid", str)):
            if not isinstance(entry.get(key), kind):
                problems.append(f"datasource {entry.get('name')}: {key} missing or not {kind.__name__}")
        if entry.get("type") not in GRAFANA_DATASOURCE_TYPES or entry.get("access") not in ("proxy", "direct"):
            problems.append(f"datasource {entry.get('name')}: bad type or access")
        if len(str(entry.get("uid"))) > 40:
            problems.append(f"datasource {entry.get('name')}: uid longer than Grafana's 40 characters")
        if entry.get("url") != gateway_url or (entry.get("jsonData") or {}).get("oauthPassThru") is not True:
            problems.append(f"datasource {entry.get('name')}: does not reach the gateway with the user's token")
    if sorted(entry.get("type") for entry in entries) != ["loki", "prometheus"]:
        problems.append("datasources: one Thanos (prometheus) and one Loki datasource expected")
    if sum(bool(entry.get("isDefault")) for entry in entries) != 1:
        problems.append("datasources: exactly one default datasource expected")
    if len({entry.get("orgId") for entry in entries}) != 1:
        problems.append("datasources: all in the tenant's one organization expected")
    ini = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"))
    try:
        ini.read_string(ini_text)
    except configparser.Error as err:
        return problems + [f"grafana.ini: {err}"]
    oauth = ini["auth.generic_oauth"] if ini.has_section("auth.generic_oauth") else {}
    if oauth.get("enabled") != "true" or oauth.get("client_id") != "grafana":
        problems.append("grafana.ini: generic OAuth with the grafana client is not enabled")
    for key in ("auth_url", "token_url", "api_url"):
        if not str(oauth.get(key, "")).startswith(realm_url + "/protocol/openid-connect/"):
            problems.append(f"grafana.ini: {key} is not the realm {realm_url}")
    org_id = next(iter({entry.get("orgId") for entry in entries}))
    if oauth.get("org_mapping") != f"{tenant}:{org_id}:Viewer" or oauth.get("org_attribute_path") != "tenant":
        problems.append("grafana.ini: the organization is not mapped from the tenant claim")
    if not ini.has_section("users") or ini["users"].get("auto_assign_org_id") != str(org_id):
        problems.append("grafana.ini: users are not assigned to the datasources' organization")
    return problems


# --- the run --------------------------------------------------------------------------------------------------


def test_second_run_changes_nothing_and_every_region_has_its_files(rendered, hostvars):
    root, play, _ = rendered
    again = playbook(play)
    assert again.returncode == 0, again.stdout[-4000:]
    for region in REGIONS:
        assert recap(again.stdout, region)["changed"] == 0, again.stdout[-4000:]
        files = sorted(str(path.relative_to(root / region)) for path in (root / region).rglob("*") if path.is_file())
        tenants = sorted(served(hostvars, region))
        assert files == sorted(["fluent-bit/fluent-bit.yaml", "loki/runtime-config.yaml", "prometheus/prometheus.yml",
                                "prometheus/rules/platform.yml", "thanos/compact.args.yml", "thanos/objstore.yml",
                                "thanos/store.args.yml"]
                               + [f"grafana/{name}/{file}" for name in tenants
                                  for file in ("datasources.yaml", "grafana.ini")]), region


def test_check_diff_shows_a_limit_change_and_writes_nothing(rendered, tmp_path, promtool):
    root, _, _ = rendered
    before = (root / "eu-west-1" / "loki" / "runtime-config.yaml").read_text()
    play = write_play(tmp_path, root, promtool, observability_loki_limit_overrides={"globex": {"ingestion_rate_mb": 12}})
    checked = playbook(play, "--check", "--diff", "-l", "eu-west-1")
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert "-    ingestion_rate_mb: 4\n+    ingestion_rate_mb: 12" in checked.stdout, checked.stdout[-4000:]
    assert recap(checked.stdout, "eu-west-1")["changed"] == 1
    assert (root / "eu-west-1" / "loki" / "runtime-config.yaml").read_text() == before


def test_promtool_accepts_every_rendered_prometheus_file_and_refuses_a_broken_twin(rendered, promtool, tmp_path):
    root, _, first = rendered
    assert "promtool checks the Prometheus configuration" in first
    for region in REGIONS:
        prometheus = root / region / "prometheus"
        config = subprocess.run([promtool, "check", "config", "--syntax-only", str(prometheus / "prometheus.yml")],
                                capture_output=True, text=True, check=False)
        assert config.returncode == 0, config.stdout + config.stderr
        rules = subprocess.run([promtool, "check", "rules", *map(str, sorted((prometheus / "rules").glob("*.yml")))],
                               capture_output=True, text=True, check=False)
        assert rules.returncode == 0, rules.stdout + rules.stderr
        assert "SUCCESS" in rules.stdout
    # The twin: the same rules with one broken expression must be refused, or the check proves nothing.
    broken = tmp_path / "broken.yml"
    broken.write_text((root / "us-east-1" / "prometheus" / "rules" / "platform.yml").read_text()
                      .replace("avg by (job) (up)", "avg by (job) (up", 1))
    refused = subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True, text=True, check=False)
    assert refused.returncode != 0


def test_prometheus_writes_each_tenant_through_the_gateway_with_its_own_realm(rendered, hostvars):
    root, _, _ = rendered
    for region in REGIONS:
        tenants = served(hostvars, region)
        config = load(root, region, "prometheus/prometheus.yml")
        assert config["global"]["external_labels"]["region"] == region
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        assert {"kubernetes-apiservers", "thanos", "tenant-gateway", "tenant-operator"} <= set(jobs)
        assert jobs["tenant-pods"]["kubernetes_sd_configs"][0]["namespaces"]["names"] == sorted(tenants)
        writes = {entry["name"]: entry for entry in config["remote_write"]}
        assert sorted(writes) == sorted(f"tenant-{name}" for name in tenants), region
        keycloak = hostvars[region]["meridian_keycloak_url"]
        for name in tenants:
            entry = writes[f"tenant-{name}"]
            assert entry["url"] == "http://istio-ingressgateway.istio-system.svc.cluster.local/api/v1/receive"
            assert entry["oauth2"]["token_url"] == f"{keycloak}/realms/{name}/protocol/openid-connect/token"
            assert entry["oauth2"]["client_secret_file"] == f"/etc/meridian/secrets/{name}/gateway-client-secret"
            assert "client_secret" not in entry["oauth2"]
            keep = entry["write_relabel_configs"][0]
            assert keep["action"] == "keep" and keep["source_labels"] == ["tenant"]
            # Only the platform tenant also carries the series without a tenant label.
            pattern = re.compile(f"^(?:{keep['regex']})$")
            assert pattern.match(name) and bool(pattern.match("")) == (name == PLATFORM_TENANT[region])
            assert not any(pattern.match(other) for other in tenants if other != name)


def test_rules_name_every_served_tenant_and_use_its_topology_limit(rendered, hostvars):
    root, _, _ = rendered
    for region in REGIONS:
        rules = [rule for group in load(root, region, "prometheus/rules/platform.yml")["groups"] for rule in group["rules"]]
        alerts = {rule["alert"] for rule in rules if "alert" in rule}
        assert {"KubernetesApiserversDown", "ThanosDown", "TenantGatewayDown", "TenantOperatorDown",
                "ThanosCompactHalted"} <= alerts
        for name, tenant in served(hostvars, region).items():
            near = [rule for rule in rules if rule.get("alert") == "TenantNearSampleLimit" and rule["labels"]["tenant"] == name]
            limit = tenant["metrics"]["request"]["samples_limit"]
            assert len(near) == 1 and near[0]["expr"].rstrip().endswith(f"> {int(limit * 0.8)}"), (region, name)


def test_thanos_bucket_is_named_from_the_resource_prefix_and_flags_exist_in_thanos(rendered, hostvars):
    root, _, _ = rendered
    thanos = lab_tool("thanos")
    help_text = {command: subprocess.run([thanos, command, "--help"], capture_output=True, text=True, check=False)
                 for command in ("store", "compact")}
    for region in REGIONS:
        objstore = load(root, region, "thanos/objstore.yml")
        assert objstore["type"] == "S3"
        assert objstore["config"]["bucket"] == f"{hostvars[region]['meridian_resource_prefix']}-thanos"
        assert objstore["config"] == objstore["config"] | {"region": region, "endpoint": "127.0.0.1:15000", "insecure": True}
        assert not {"access_key", "secret_key"} & set(objstore["config"])
        for command in ("store", "compact"):
            args = load(root, region, f"thanos/{command}.args.yml")
            assert args[0] == command
            for flag in args[1:]:
                name = flag.split("=", 1)[0]
                assert re.search(rf"(^|\s){re.escape(name)}[=\s]", help_text[command].stdout + help_text[command].stderr), \
                    f"thanos {command} has no flag {name}"
        compact = load(root, region, "thanos/compact.args.yml")
        assert {"--retention.resolution-raw=30d", "--retention.resolution-5m=90d", "--retention.resolution-1h=365d"} <= set(compact)


def test_loki_runtime_config_matches_the_topology(rendered, hostvars):
    root, _, _ = rendered
    for region in REGIONS:
        document = load(root, region, "loki/runtime-config.yaml")
        assert loki_runtime_problems(document, served(hostvars, region)) == [], region


def test_fluent_bit_routes_each_namespace_to_its_own_tenant(rendered, hostvars):
    root, _, _ = rendered
    for region in REGIONS:
        document = load(root, region, "fluent-bit/fluent-bit.yaml")
        problems = fluent_bit_problems(document, served(hostvars, region),
                                       "istio-ingressgateway.istio-system.svc.cluster.local", PLATFORM_TENANT[region])
        assert problems == [], region


def test_grafana_has_one_organization_per_tenant_signing_in_through_its_realm(rendered, hostvars):
    root, _, _ = rendered
    for region in REGIONS:
        keycloak = hostvars[region]["meridian_keycloak_url"]
        for name in served(hostvars, region):
            directory = root / region / "grafana" / name
            problems = grafana_problems(yaml.safe_load((directory / "datasources.yaml").read_text()),
                                        (directory / "grafana.ini").read_text(), name,
                                        "http://istio-ingressgateway.istio-system.svc.cluster.local",
                                        f"{keycloak}/realms/{name}")
            assert problems == [], (region, name)


def test_schema_checkers_find_broken_documents(rendered, hostvars):
    """Each checker must fail on a broken twin of a good file, or its passing proves nothing."""
    root, _, _ = rendered
    tenants = served(hostvars, "eu-west-1")
    loki = load(root, "eu-west-1", "loki/runtime-config.yaml")
    for breakage in (lambda doc: doc["overrides"].pop("globex"), lambda doc: doc.update(limits={}),
                     lambda doc: doc["overrides"]["acme"].update(retention_period="31 days"),
                     lambda doc: doc["overrides"]["acme"].update(ingestion_rate_mb=9)):
        broken = copy.deepcopy(loki)
        breakage(broken)
        assert loki_runtime_problems(broken, tenants), broken

    fluent = load(root, "eu-west-1", "fluent-bit/fluent-bit.yaml")
    gateway = "istio-ingressgateway.istio-system.svc.cluster.local"
    swapped = copy.deepcopy(fluent)
    swapped["pipeline"]["outputs"][0]["tenant_id"], swapped["pipeline"]["outputs"][1]["tenant_id"] = (
        swapped["pipeline"]["outputs"][1]["tenant_id"], swapped["pipeline"]["outputs"][0]["tenant_id"])
    no_rewrite = copy.deepcopy(fluent)
    no_rewrite["pipeline"]["filters"] = [step for step in no_rewrite["pipeline"]["filters"] if step["name"] != "rewrite_tag"]
    wrong_host = copy.deepcopy(fluent)
    wrong_host["pipeline"]["outputs"][0]["host"] = "loki.monitoring.svc"
    misspelt = copy.deepcopy(fluent)
    misspelt["pipeline"]["outputs"][0]["tenant"] = misspelt["pipeline"]["outputs"][0].pop("tenant_id")
    for broken in (swapped, no_rewrite, wrong_host, misspelt, {"pipeline": {"inputs": []}}):
        assert fluent_bit_problems(broken, tenants, gateway, ""), broken

    directory = root / "eu-west-1" / "grafana" / "acme"
    datasources = yaml.safe_load((directory / "datasources.yaml").read_text())
    ini = (directory / "grafana.ini").read_text()
    realm = f"{hostvars['eu-west-1']['meridian_keycloak_url']}/realms/acme"
    assert grafana_problems(datasources, ini, "acme", "http://" + gateway, realm) == []
    no_token = copy.deepcopy(datasources)
    no_token["datasources"][1]["jsonData"]["oauthPassThru"] = False
    assert grafana_problems(no_token, ini, "acme", "http://" + gateway, realm)
    assert grafana_problems(datasources, ini.replace("realms/acme", "realms/globex"), "acme", "http://" + gateway, realm)
    assert grafana_problems(datasources, ini, "globex", "http://" + gateway, realm)


# --- bad input and the ways of running the role, every run on localhost in ONE ansible-playbook process ------------

TENANTS = [
    {"name": "acme", "regions": ["us-east-1", "eu-west-1"], "logs": {"ingestion_rate_mb": 8, "retention": "744h"},
     "metrics": {"request": {"samples_limit": 50000}}},
    {"name": "globex", "regions": ["eu-west-1"], "logs": {"ingestion_rate_mb": 4}},
]
INVENTORY = {"meridian_kubeconfig": "/nonexistent/kubeconfig", "meridian_region": "eu-west-1",
             "meridian_resource_prefix": "meridian-test-eu-west-1", "meridian_tenants": TENANTS,
             "meridian_keycloak_url": "http://127.0.0.1:18080",
             "observability_manage_bucket": False, "observability_manage_thanos_tenants": False}

BAD_INPUTS = [
    ("raw retention shorter than the 5m downsampling age",
     {"observability_compactor_retention": {"raw": "24h", "5m": "90d", "1h": "365d"}}, "observability_compactor_retention"),
    ("5m kept longer than 1h", {"observability_compactor_retention": {"raw": "30d", "5m": "400d", "1h": "365d"}},
     "observability_compactor_retention"),
    ("unknown tenant in a limit override", {"observability_loki_limit_overrides": {"initech": {"ingestion_rate_mb": 2}}},
     "observability_loki_limit_overrides.initech"),
    ("tenant of another region in a limit override",
     {"meridian_region": "us-east-1", "observability_loki_limit_overrides": {"globex": {"ingestion_rate_mb": 2}}},
     "observability_loki_limit_overrides.globex"),
    ("unknown limit key", {"observability_loki_limit_overrides": {"acme": {"ingestion_rate": 2}}},
     "observability_loki_limit_overrides.acme"),
    ("limit of the wrong type", {"observability_loki_limit_overrides": {"acme": {"max_streams_per_user": "many"}}},
     "observability_loki_limit_overrides.acme"),
    ("remote-write gateway URL not http(s)", {"observability_gateway_url": "grpc://gateway.example.com"},
     "observability_gateway_url"),
    ("scrape timeout longer than the interval", {"observability_scrape_timeout": "1m"}, "observability_scrape_timeout"),
    ("rate window shorter than four scrapes", {"observability_scrape_interval": "2m"}, "observability_rules_rate_window"),
    ("bucket name with upper case", {"observability_bucket_name": "Meridian_Thanos"}, "observability_bucket_name"),
    ("duplicate tenant", {"meridian_tenants": TENANTS + [TENANTS[0]]}, "acme more than once"),
    ("platform tenant not served here", {"observability_platform_tenant": "initech"}, "observability_platform_tenant"),
    ("relative render directory", {"observability_render_dir": "rendered"}, "observability_render_dir"),
]
VALID_BASELINE = "valid baseline"
PROMTOOL_REFUSES, PROMTOOL_ACCEPTS = "promtool refuses", "promtool accepts"
NO_RENDER_DIRECTORY = "without a render directory"
RULES_AFTER_THE_REFUSAL = "The rules file after promtool refused"


def role_play(name: str, role_vars: dict, *, after_a_refusal: tuple[dict, ...] = ()) -> dict:
    """A play running the role with ``role_vars``; the rescue lets a refused run end this play only, not the process,
    and runs ``after_a_refusal`` (tasks looking at what the refused run left)."""
    return {"name": name, "hosts": "localhost", "gather_facts": False, "tasks": [{"block": [
        {"name": "Observability role", "ansible.builtin.include_role": {"name": "meridian.observability.observability"},
         "vars": role_vars}],
        "rescue": [{"name": "Refused", "ansible.builtin.debug": {"msg": "the role failed; the play's results say where"}},
                   *after_a_refusal]}]}


def failures(results: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    return [(task, result) for task, result in results if result.get("failed")]


def failure_message(result: dict) -> str:
    # A looped assert says "One or more items failed"; the item that failed carries the message.
    return " ".join([str(result.get("msg", ""))] + [str(item.get("msg", "")) for item in result.get("results", [])
                                                   if item.get("failed")])


@pytest.fixture(scope="module")
def localhost_runs(tmp_path_factory):
    """Every bad input, its valid twin, the run without a render directory and promtool refusing then accepting: one
    play each, in one ansible-playbook process (one process per case cost a second of CPU or more in start-up alone).
    Each play has its own render directory, so what one play writes no other play reads. None of it needs the lab's
    promtool except the accepting play, which is left out while promtool is not built (its test then skips)."""
    promtool, _ = built_lab_tool("promtool")
    directory = tmp_path_factory.mktemp("observability-localhost")
    render_dirs = {case: directory / f"case{number}" / "out" for number, (case, _, _) in enumerate(BAD_INPUTS)}
    render_dirs[VALID_BASELINE] = directory / "valid" / "out"
    render_dirs[PROMTOOL_REFUSES] = render_dirs[PROMTOOL_ACCEPTS] = directory / "promtool" / "out"
    plays = [role_play(f"bad input: {case}", INVENTORY | {"observability_render_dir": str(render_dirs[case])} | variables)
             for case, variables, _ in BAD_INPUTS]
    plays += [role_play(VALID_BASELINE, INVENTORY | {"observability_render_dir": str(render_dirs[VALID_BASELINE])}),
              role_play(NO_RENDER_DIRECTORY, INVENTORY),
              # In this order: the refusing checker runs on an empty directory, the real one after it.
              role_play(PROMTOOL_REFUSES, INVENTORY | {"observability_render_dir": str(render_dirs[PROMTOOL_REFUSES]),
                                                       "observability_promtool_path": "/bin/false"},
                        after_a_refusal=({"name": RULES_AFTER_THE_REFUSAL, "ansible.builtin.stat": {
                            "path": str(render_dirs[PROMTOOL_REFUSES] / "prometheus" / "rules" / "platform.yml")}},))]
    if promtool:
        plays.append(role_play(PROMTOOL_ACCEPTS, INVENTORY | {"observability_render_dir": str(render_dirs[PROMTOOL_ACCEPTS]),
                                                              "observability_promtool_path": promtool}))
    run = run_plays(directory, plays)
    assert run.completed.returncode == 0, run.completed.stdout[-3000:] + run.completed.stderr[-3000:]
    return run, render_dirs


def test_the_valid_baseline_renders_and_leaves_out_limits_the_tenant_does_not_set(localhost_runs):
    """The twin of every bad input: the same inventory without the bad value, in the same process, must render."""
    run, render_dirs = localhost_runs
    assert failures(run.plays[VALID_BASELINE]) == [], run.plays[VALID_BASELINE]
    # A limit the tenant leaves out is left to Loki's default, not written as null.
    assert loki_runtime_problems(yaml.safe_load((render_dirs[VALID_BASELINE] / "loki" / "runtime-config.yaml").read_text()),
                                 {tenant["name"]: tenant for tenant in TENANTS}) == []


@pytest.mark.parametrize(("case", "variables", "named"), BAD_INPUTS, ids=[case for case, _, _ in BAD_INPUTS])
def test_bad_input_fails_in_preflight_naming_the_field(localhost_runs, case, variables, named):
    run, render_dirs = localhost_runs
    failed = failures(run.plays[f"bad input: {case}"])
    assert failed, f"{case}: not refused"
    task, result = failed[0]
    assert "Preflight |" in task, (case, task)
    message = failure_message(result)
    assert named in message and "Fix" in message, (case, failed)
    assert not render_dirs[case].exists(), f"{case}: something was rendered before the refusal"


def test_without_a_render_directory_nothing_is_rendered_and_the_run_says_so(localhost_runs):
    run, _ = localhost_runs
    results = [result for _, result in run.plays[NO_RENDER_DIRECTORY]]
    assert failures(run.plays[NO_RENDER_DIRECTORY]) == []
    assert not [result for result in results if result.get("changed")]
    assert any("nothing is rendered" in str(result.get("msg", "")) for result in results)
    assert not [result for result in results if result.get("action") == "ansible.builtin.template"
                and not result.get("skipped")]


def test_the_role_runs_promtool_and_stops_when_it_refuses(localhost_runs):
    """The real promtool passes (the fixture's run); a checker that refuses everything stops the role, rules unwritten."""
    run, render_dirs = localhost_runs
    failed = failures(run.plays[PROMTOOL_REFUSES])
    assert failed and "validate" in str(failed[0][1].get("msg", "")), failed
    # Stopped at the rules: nothing after them ran, so neither the rules file nor promtool's checks of it.
    assert failed[0][0].endswith("Render | Prometheus platform rules"), failed[0][0]
    assert not [task for task, result in run.plays[PROMTOOL_REFUSES][run.plays[PROMTOOL_REFUSES].index(failed[0]) + 1:]
                if "Render |" in task], run.plays[PROMTOOL_REFUSES]
    (left,) = [result for task, result in run.plays[PROMTOOL_REFUSES] if task == RULES_AFTER_THE_REFUSAL]
    assert left["stat"]["exists"] is False, left
    if PROMTOOL_ACCEPTS not in run.plays:
        pytest.skip("promtool is not built in the lab cache (run make lab-up once): only the refusal was run")
    # The same directory with the real promtool: the run completes and writes the rules.
    assert failures(run.plays[PROMTOOL_ACCEPTS]) == [], run.plays[PROMTOOL_ACCEPTS]
    assert [result for task, result in run.plays[PROMTOOL_ACCEPTS] if task.endswith("Prometheus platform rules")
            and result.get("changed")], "the accepting run wrote the rules the refusing one did not"
    assert (render_dirs[PROMTOOL_ACCEPTS] / "prometheus" / "rules" / "platform.yml").is_file()


def test_check_mode_on_a_fresh_directory_predicts_changes_and_writes_nothing(tmp_path):
    render_dir = tmp_path / "fresh"
    results, completed = run_tasks(tmp_path, [{"name": "Observability role", "ansible.builtin.include_role":
                                               {"name": "meridian.observability.observability"},
                                               "vars": INVENTORY | {"observability_render_dir": str(render_dir)}}],
                                   check=True, diff=True)
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert [result for result in results if result.get("action") == "ansible.builtin.template" and result.get("changed")]
    assert not render_dir.exists()
