#!/usr/bin/env python3
"""Chart checks: renders charts/dataproduct-operator with Helm's own engine and checks the result.

Helm's engine comes from the PyPI package helm-python-sdk, whose wheel bundles libhelm_c (Helm
v4's Go SDK built as a C library, called through ctypes): no helm binary is downloaded.

Checked, with the default values and with tests/chart/values-custom.yaml:
- helm lint (strict) passes and every rendered manifest parses, with apiVersion, kind and name;
- the ClusterRole grants exactly the rules of src/operator/permissions.rs (CLUSTER) and the
  leader-election Role exactly LEADER_ELECTION, with no wildcard in any role;
- the Deployment's pod is restricted (non-root, read-only root filesystem, all capabilities
  dropped, seccomp RuntimeDefault, no privilege escalation), has requests and limits, and probes
  /healthz and /readyz on the port the operator listens on;
- the chart's CRDs are byte-equal to crds/, its template copies to templates/, and its
  appVersion is Cargo.toml's version;
- every non-default value shows up where it should; bad values (misspelt keys, wildcards, unknown
  templates or log formats) fail to render, through values.schema.json or the templates;
- values.schema.json declares every value, and the chart README documents every value.

Usage: check_chart.py [--dpctl PATH]   (with --dpctl, installed templates are also validated)
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "dataproduct-operator"
CUSTOM_VALUES = Path(__file__).resolve().parent / "values-custom.yaml"
PERMISSIONS = ROOT / "src" / "operator" / "permissions.rs"
RELEASE, NAMESPACE = "dataproduct-operator", "dataproduct-system"
FULLNAME = "dataproduct-operator"  # the release name already holds the chart name

CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "DataProductTemplate", "Namespace"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def check(self, name: str, problems: list[str] | str | None) -> None:
        if isinstance(problems, str):
            problems = [problems]
        problems = [p for p in (problems or []) if p]
        if problems:
            for p in problems:
                self.failed.append(f"{name}: {p}")
                print(f"FAIL {name}: {p}")
        else:
            self.passed += 1
            print(f"ok   {name}")


# --- the list kept next to the code ------------------------------------------------------------


def strip_comments(source: str) -> str:
    """Rust source without // comments (string literals are kept intact)."""
    out, i, in_string = [], 0, False
    while i < len(source):
        c = source[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(source[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif source.startswith("//", i):
            while i < len(source) and source[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def rust_permissions(name: str) -> set[tuple[str, str, str]]:
    """(group, resource, verb) triples of `pub const NAME: &[Permission]` in permissions.rs."""
    source = strip_comments(PERMISSIONS.read_text())
    verb_lists = {
        m.group(1): re.findall(r'"([^"]*)"', m.group(2))
        for m in re.finditer(r"const\s+([A-Z_]+)\s*:\s*&\[&str\]\s*=\s*&\[([^\]]*)\]", source)
    }
    start = re.search(rf"pub const {name}\s*:\s*&\[Permission\]\s*=\s*&\[", source)
    if not start:
        raise SystemExit(f"error: {PERMISSIONS}: no `pub const {name}: &[Permission]`")
    depth, i = 1, start.end()
    while depth:
        depth += {"[": 1, "]": -1}.get(source[i], 0)
        i += 1
    body = source[start.end() : i - 1]
    entry = re.compile(
        r'Permission\s*\{\s*group:\s*"([^"]*)"\s*,\s*resource:\s*"([^"]*)"\s*,\s*'
        r'verbs:\s*(&\[[^\]]*\]|[A-Z_]+)\s*,?\s*\}'
    )
    entries = entry.findall(body)
    if len(entries) != body.count("Permission"):
        raise SystemExit(f"error: {PERMISSIONS}: cannot read every Permission of {name}")
    triples = set()
    for group, resource, verbs in entries:
        names = re.findall(r'"([^"]*)"', verbs) if verbs.startswith("&") else verb_lists[verbs]
        triples |= {(group, resource, v) for v in names}
    return triples


def role_triples(role: dict) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in role.get("rules") or []
        for g in rule.get("apiGroups") or []
        for r in rule.get("resources") or []
        for v in rule.get("verbs") or []
    }


def wildcards(role: dict) -> list[str]:
    found = []
    for i, rule in enumerate(role.get("rules") or []):
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            for value in rule.get(field) or []:
                if "*" in str(value):
                    found.append(f"{role['kind']} {role['metadata']['name']} rules[{i}].{field}: {value!r}")
    return found


# --- rendering ---------------------------------------------------------------------------------


def render(values: dict | None) -> list[dict]:
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                doc["__source"] = path
                docs.append(doc)
    return docs


def render_error(values: dict) -> str | None:
    try:
        render(values)
    except helm.HelmError as e:  # type: ignore[attr-defined]
        return str(e)
    return None


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def env_of(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def deep_merge(dst: dict, src: dict) -> dict:
    """What the chart's dpo.merge does: maps merge, everything else (lists too) replaces."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


def value_paths(values: dict, prefix: str = "") -> list[str]:
    paths = []
    for k, v in values.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            paths += value_paths(v, path + ".")
        else:
            paths.append(path)
    return paths


# --- the checks --------------------------------------------------------------------------------


def check_manifests(c: Checks, label: str, docs: list[dict]) -> None:
    problems, seen = [], set()
    for d in docs:
        where = f"{d['__source']}: {d.get('kind')} {d.get('metadata', {}).get('name')}"
        for field in ("apiVersion", "kind", "metadata"):
            if not d.get(field):
                problems.append(f"{where}: no {field}")
        meta = d.get("metadata") or {}
        name = meta.get("name", "")
        if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
            problems.append(f"{where}: invalid name {name!r}")
        if d.get("kind") in CLUSTER_SCOPED:
            if "namespace" in meta:
                problems.append(f"{where}: cluster-scoped object with a namespace")
        elif d.get("kind") != "ServiceMonitor" and meta.get("namespace") != NAMESPACE:
            problems.append(f"{where}: namespace {meta.get('namespace')!r}, want {NAMESPACE}")
        labels = meta.get("labels") or {}
        if labels.get("app.kubernetes.io/managed-by") != "Helm" or labels.get("app.kubernetes.io/instance") != RELEASE:
            problems.append(f"{where}: missing the release's labels")
        key = (d.get("kind"), meta.get("namespace"), name)
        if key in seen:
            problems.append(f"{where}: rendered twice")
        seen.add(key)
    c.check(f"[{label}] every manifest parses and is well formed ({len(docs)} objects)", problems)


def check_rbac(c: Checks, label: str, docs: list[dict], extra_rules: list[dict]) -> None:
    roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
    c.check(f"[{label}] no wildcard in any Role or ClusterRole", [w for r in roles for w in wildcards(r)])

    cluster = rust_permissions("CLUSTER")
    role = one(docs, "ClusterRole", FULLNAME)
    chart = role_triples(role)
    c.check(
        f"[{label}] ClusterRole grants exactly permissions.rs CLUSTER ({len(cluster)} verbs)",
        [f"missing {t}" for t in sorted(cluster - chart)]
        + [f"not used by the operator: {t}" for t in sorted(chart - cluster)]
        + [f"rules[{i}] has resourceNames/nonResourceURLs" for i, r in enumerate(role["rules"]) if r.get("resourceNames") or r.get("nonResourceURLs")],
    )
    binding = one(docs, "ClusterRoleBinding", FULLNAME)
    c.check(
        f"[{label}] ClusterRoleBinding binds it to the operator's ServiceAccount",
        [] if binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": FULLNAME}
        and binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
        else f"roleRef {binding['roleRef']}, subjects {binding['subjects']}",
    )

    leader = rust_permissions("LEADER_ELECTION")
    lrole = one(docs, "Role", f"{FULLNAME}-leader-election")
    got = role_triples(lrole)
    lbinding = one(docs, "RoleBinding", f"{FULLNAME}-leader-election")
    c.check(
        f"[{label}] leader-election Role grants exactly permissions.rs LEADER_ELECTION",
        [f"missing {t}" for t in sorted(leader - got)]
        + [f"not used by the operator: {t}" for t in sorted(got - leader)]
        + ([] if lbinding["roleRef"]["name"] == lrole["metadata"]["name"] else ["RoleBinding refers to another Role"]),
    )

    extra = [d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == f"{FULLNAME}-extra-resources"]
    if extra_rules:
        problems = [] if extra and extra[0]["rules"] == extra_rules else [f"extra ClusterRole rules {extra and extra[0]['rules']}, want {extra_rules}"]
        eb = [d for d in docs if d["kind"] == "ClusterRoleBinding" and d["metadata"]["name"] == f"{FULLNAME}-extra-resources"]
        if not eb or eb[0]["subjects"][0]["name"] != FULLNAME:
            problems.append("no binding of the extra ClusterRole to the operator")
        c.check(f"[{label}] rbac.extraRules go into their own bound ClusterRole", problems)
    else:
        c.check(f"[{label}] no extra ClusterRole without rbac.extraRules", [] if not extra else "rendered")


def restricted_problems(deploy: dict) -> list[str]:
    """What keeps a Deployment's pods from the restricted Pod Security Standard, or lacks limits."""
    pod = deploy["spec"]["template"]["spec"]
    psc = pod.get("securityContext") or {}
    containers = pod["containers"] + (pod.get("initContainers") or [])
    problems = []
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"pod sets {flag}")
    for v in pod.get("volumes") or []:
        if "hostPath" in v:
            problems.append(f"hostPath volume {v['name']}")
    if psc.get("runAsUser") == 0:
        problems.append("pod runs as user 0")
    for ctr in containers:
        sc = ctr.get("securityContext") or {}
        name = ctr["name"]
        if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            problems.append(f"{name}: runs as user 0")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{name}: capabilities.drop lacks ALL")
        if caps.get("add"):
            problems.append(f"{name}: adds capabilities {caps['add']}")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile {seccomp!r}, want RuntimeDefault")
        res = ctr.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if not (res.get(kind) or {}).get(r):
                    problems.append(f"{name}: no {kind}.{r}")
    return problems


def check_deployment(c: Checks, label: str, docs: list[dict], port: int) -> dict:
    deploy = one(docs, "Deployment", FULLNAME)
    pod = deploy["spec"]["template"]["spec"]
    problems = restricted_problems(deploy)
    c.check(f"[{label}] Deployment is restricted (non-root, read-only, no capabilities, seccomp) with requests and limits", problems)

    ctr = next(x for x in pod["containers"] if x["name"] == "operator")
    env = env_of(ctr)
    ports = {p["name"]: p["containerPort"] for p in ctr.get("ports") or []}
    problems = []
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (ctr.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path:
            problems.append(f"{probe} path {get.get('path')!r}, want {path}")
        target = get.get("port")
        if ports.get(target, target) != port:
            problems.append(f"{probe} port {target!r} is not the listen port {port}")
    if env.get("DPO_LISTEN") != f"0.0.0.0:{port}":
        problems.append(f"DPO_LISTEN {env.get('DPO_LISTEN')!r}, want 0.0.0.0:{port}")
    c.check(f"[{label}] probes: /healthz (liveness) and /readyz (readiness) on the metrics port {port}", problems)

    problems = []
    if ctr.get("args") != ["run"]:
        problems.append(f"args {ctr.get('args')}, want ['run']")
    if env.get("POD_NAMESPACE") != {"fieldRef": {"fieldPath": "metadata.namespace"}}:
        problems.append("POD_NAMESPACE does not come from the downward API")
    if env.get("POD_NAME") != {"fieldRef": {"fieldPath": "metadata.name"}}:
        problems.append("POD_NAME does not come from the downward API")
    if "KUBECONFIG" in env:
        problems.append("KUBECONFIG is set: the operator must use its in-cluster configuration")
    if pod.get("serviceAccountName") != FULLNAME:
        problems.append(f"serviceAccountName {pod.get('serviceAccountName')}")
    selector = deploy["spec"]["selector"]["matchLabels"]
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    if any(pod_labels.get(k) != v for k, v in selector.items()):
        problems.append("selector does not match the pod labels")
    for other in docs:
        sel = (other.get("spec") or {}).get("selector")
        if other["kind"] == "Service":
            sel = sel or {}
        elif other["kind"] == "PodDisruptionBudget":
            sel = (sel or {}).get("matchLabels") or {}
        else:
            continue
        if any(pod_labels.get(k) != v for k, v in sel.items()):
            problems.append(f"{other['kind']} selector does not match the pods")
    c.check(f"[{label}] operator container runs `dpctl run` in-cluster with its pod's name and namespace", problems)
    return deploy


CATALOGUE = f"{FULLNAME}-catalogue"


def is_catalogue(d: dict) -> bool:
    return ((d.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component") == "catalogue"


def check_catalogue(c: Checks, label: str, docs: list[dict], values: dict | None) -> None:
    cat = ((values or {}).get("catalogue")) or {}
    mine = [d for d in docs if is_catalogue(d)]
    if not cat.get("enabled"):
        c.check(f"[{label}] no catalogue objects without catalogue.enabled", [f"renders {d['kind']} {d['metadata']['name']}" for d in mine])
        return
    port = cat.get("port", 8090)
    deploy = one(docs, "Deployment", CATALOGUE)
    c.check(f"[{label}] catalogue Deployment is restricted (the operator's security contexts) with requests and limits", restricted_problems(deploy))

    pod = deploy["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    env = env_of(ctr)
    ports = {p["name"]: p["containerPort"] for p in ctr.get("ports") or []}
    problems = []
    if len(pod["containers"]) != 1 or ctr["name"] != "catalogue":
        problems.append(f"containers {[x['name'] for x in pod['containers']]}")
    if ctr.get("args") != ["catalog"]:
        problems.append(f"args {ctr.get('args')}, want ['catalog'] (cluster mode)")
    if env.get("DPO_CATALOG_LISTEN") != f"0.0.0.0:{port}":
        problems.append(f"DPO_CATALOG_LISTEN {env.get('DPO_CATALOG_LISTEN')!r}")
    for probe in ("livenessProbe", "readinessProbe"):
        get = (ctr.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != "/healthz" or ports.get(get.get("port"), get.get("port")) != port:
            problems.append(f"{probe} {get}, want /healthz on {port}")
    if deploy["spec"]["replicas"] != cat.get("replicas", 1):
        problems.append(f"replicas {deploy['spec']['replicas']}")
    if pod.get("serviceAccountName") != CATALOGUE:
        problems.append(f"serviceAccountName {pod.get('serviceAccountName')}")
    c.check(f"[{label}] catalogue runs `dpctl catalog` on port {port}, probes /healthz, its own ServiceAccount", problems)

    problems = []
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    operator = one(docs, "Deployment", FULLNAME)
    op_labels = operator["spec"]["template"]["metadata"]["labels"]
    if any(pod_labels.get(k) != v for k, v in deploy["spec"]["selector"]["matchLabels"].items()):
        problems.append("selector does not match its pods")
    for other in docs:
        if other["kind"] not in ("Service", "PodDisruptionBudget", "Deployment"):
            continue
        sel = (other.get("spec") or {}).get("selector") or {}
        sel = sel.get("matchLabels", sel) if other["kind"] != "Service" else sel
        picks_cat = all(pod_labels.get(k) == v for k, v in sel.items())
        picks_op = all(op_labels.get(k) == v for k, v in sel.items())
        name = f"{other['kind']} {other['metadata']['name']}"
        if is_catalogue(other) and (picks_op or not picks_cat):
            problems.append(f"{name} does not select exactly the catalogue's pods")
        if not is_catalogue(other) and picks_cat:
            problems.append(f"{name} of the operator selects the catalogue's pods")
    svc = one(docs, "Service", CATALOGUE)
    if svc["spec"]["ports"] != [{"name": "http", "port": cat.get("service", {}).get("port", 80), "targetPort": "http", "protocol": "TCP"}]:
        problems.append(f"Service ports {svc['spec']['ports']}")
    c.check(f"[{label}] catalogue Service selects its pods and no operator selector does", problems)

    # Its replicas spread over nodes by default, by its own labels (not the operator's).
    pod_spec = deploy["spec"]["template"]["spec"]
    anti = (((pod_spec.get("affinity") or {}).get("podAntiAffinity") or {}).get("preferredDuringSchedulingIgnoredDuringExecution") or [])
    problems = []
    if cat.get("affinity"):
        if pod_spec.get("affinity") != cat["affinity"]:
            problems.append(f"affinity {pod_spec.get('affinity')} is not catalogue.affinity")
    elif not any(t["podAffinityTerm"]["labelSelector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"] for t in anti):
        problems.append(f"no default anti-affinity on the catalogue's own labels: {pod_spec.get('affinity')}")
    if pod_spec.get("topologySpreadConstraints", []) != cat.get("topologySpreadConstraints", []):
        problems.append("topologySpreadConstraints are not catalogue.topologySpreadConstraints")
    c.check(f"[{label}] catalogue replicas prefer different nodes (its own affinity and spread)", problems)

    want = {("dataproducts.io", r, v) for r in ("dataproducts", "dataproducttemplates", "dataproductaccesses") for v in ("get", "list", "watch")}
    role = one(docs, "ClusterRole", CATALOGUE)
    got = role_triples(role)
    binding = one(docs, "ClusterRoleBinding", CATALOGUE)
    problems = [f"missing {t}" for t in sorted(want - got)] + [f"more than read-only: {t}" for t in sorted(got - want)] + wildcards(role)
    if binding["roleRef"]["name"] != CATALOGUE or binding["subjects"] != [{"kind": "ServiceAccount", "name": CATALOGUE, "namespace": NAMESPACE}]:
        problems.append(f"binding {binding['roleRef']} {binding['subjects']}")
    one(docs, "ServiceAccount", CATALOGUE)
    c.check(f"[{label}] catalogue ClusterRole is read-only (get, list, watch on the three kinds) and bound to its ServiceAccount", problems)

    ing = cat.get("ingress") or {}
    found = [d for d in docs if d["kind"] == "Ingress"]
    problems = []
    if not ing.get("enabled"):
        problems += [f"renders Ingress {d['metadata']['name']}" for d in found]
    else:
        spec = one(docs, "Ingress", CATALOGUE)["spec"]
        rule = spec["rules"][0]
        backend = rule["http"]["paths"][0]["backend"]["service"]
        if rule["host"] != ing["host"]:
            problems.append(f"host {rule['host']}")
        if backend != {"name": CATALOGUE, "port": {"name": "http"}}:
            problems.append(f"backend {backend}")
        secret = (ing.get("tls") or {}).get("secretName")
        want_tls = [{"hosts": [ing["host"]], "secretName": secret}] if secret else None
        if spec.get("tls") != want_tls:
            problems.append(f"tls {spec.get('tls')}, want {want_tls}")
        if ing.get("className") and spec.get("ingressClassName") != ing["className"]:
            problems.append(f"ingressClassName {spec.get('ingressClassName')}")
    c.check(f"[{label}] catalogue Ingress: {'host ' + ing['host'] + (' with TLS' if (ing.get('tls') or {}).get('secretName') else '') if ing.get('enabled') else 'none'}", problems)
    c.check(
        f"[{label}] catalogue.ingress without a host is refused",
        None if render_error({"catalogue": {"enabled": True, "ingress": {"enabled": True}}}) else "rendered",
    )


def check_sources(c: Checks) -> None:
    crds = CHART / "crds"
    problems = []
    names = sorted(p.name for p in crds.iterdir())
    if names != ["dataproducts.io.yaml"]:
        problems.append(f"chart crds/ holds {names}, want exactly dataproducts.io.yaml")
    elif (crds / "dataproducts.io.yaml").read_bytes() != (ROOT / "crds" / "dataproducts.io.yaml").read_bytes():
        problems.append(
            "differs from crds/dataproducts.io.yaml: cp crds/dataproducts.io.yaml charts/dataproduct-operator/crds/"
        )
    with helm.Chart.load(str(CHART)) as chart:
        loaded = chart.crds
    if [x["name"] for x in loaded] != ["crds/dataproducts.io.yaml"]:
        problems.append(f"Helm sees CRD files {[x['name'] for x in loaded]}")
    kinds = [d["spec"]["names"]["kind"] for d in yaml.safe_load_all((crds / "dataproducts.io.yaml").read_text()) if d]
    if kinds != ["DataProduct", "DataProductTemplate", "DataProductAccess"]:
        problems.append(f"CRDs for {kinds}")
    c.check("chart crds/ is byte-equal to crds/dataproducts.io.yaml (installed by Helm, never deleted)", problems)

    src, copies = ROOT / "templates", CHART / "files" / "templates"
    a = sorted(p.name for p in src.glob("*.yaml"))
    b = sorted(p.name for p in copies.glob("*.yaml"))
    problems = [] if a == b else [f"templates/ has {a}, the chart has {b}"]
    problems += [
        f"{n} differs: cp templates/*.yaml charts/dataproduct-operator/files/templates/"
        for n in set(a) & set(b)
        if (src / n).read_bytes() != (copies / n).read_bytes()
    ]
    c.check("chart files/templates/ is byte-equal to templates/", problems)

    cargo = re.search(r'^\[package\][^\[]*?^version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M | re.S)
    chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    c.check(
        "Chart.yaml appVersion is Cargo.toml's version",
        [] if cargo and str(chart_meta["appVersion"]) == cargo.group(1) else f"appVersion {chart_meta['appVersion']!r}, Cargo.toml {cargo and cargo.group(1)!r}",
    )


def check_lint(c: Checks, label: str, values: dict | None) -> None:
    report = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
    problems = list(report.get("errors") or [])
    problems += [f"{m['path']}: {m['error']}" for m in report.get("messages") or [] if m.get("severity", 0) >= 2]
    c.check(f"[{label}] helm lint --strict", problems)


def check_defaults(c: Checks, docs: list[dict]) -> None:
    deploy = one(docs, "Deployment", FULLNAME)
    ctr = deploy["spec"]["template"]["spec"]["containers"][0]
    env = env_of(ctr)
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    want_env = {
        "DPO_CONCURRENCY": "4",
        "DPO_RESYNC_INTERVAL": "5m",
        "DPO_AWS": "false",
        "DPO_AWS_RESYNC_INTERVAL": "10m",
        "DPO_AWS_RETRY_MODE": "standard",
        "DPO_LEADER_ELECTION": "true",
        "DPO_LEASE_NAME": "dataproduct-operator",
        "DPO_LOG_FORMAT": "text",
        "RUST_LOG": "info",
    }
    problems = [f"{k}={env.get(k)!r}, want {v!r}" for k, v in want_env.items() if env.get(k) != v]
    problems += [f"{k} is set" for k in ("DPO_WATCH_NAMESPACES", "AWS_ENDPOINT_URL", "DPO_AWS_REGION", "AWS_REGION") if k in env]
    if deploy["spec"]["replicas"] != 2:
        problems.append(f"replicas {deploy['spec']['replicas']}, want 2")
    if ctr["image"] != f"dataproduct-operator:{meta['appVersion']}":
        problems.append(f"image {ctr['image']}")
    kinds = sorted({d["kind"] for d in docs})
    want_kinds = ["ClusterRole", "ClusterRoleBinding", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount"]
    if kinds != want_kinds:
        problems.append(f"kinds {kinds}, want {want_kinds}")
    else:
        if one(docs, "PodDisruptionBudget")["spec"] != {"minAvailable": 1, "selector": {"matchLabels": deploy["spec"]["selector"]["matchLabels"]}}:
            problems.append("PodDisruptionBudget is not minAvailable 1 over the operator's pods")
        if "annotations" in one(docs, "ServiceAccount")["metadata"]:
            problems.append("ServiceAccount has annotations")
    c.check("[defaults] 2 replicas with leader election, AWS off, all namespaces, text logs, no ServiceMonitor, no templates", problems)


def check_custom(c: Checks, docs: list[dict], values: dict, dpctl: str | None) -> None:
    deploy = one(docs, "Deployment", FULLNAME)
    pod = deploy["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    env = env_of(ctr)
    aws = values["aws"]
    want_env = {
        "DPO_WATCH_NAMESPACES": ",".join(values["watchNamespaces"]),
        "DPO_CONCURRENCY": str(values["concurrency"]),
        "DPO_RESYNC_INTERVAL": values["resyncInterval"],
        "DPO_FRESHNESS_INTERVAL": values["freshnessInterval"],
        "DPO_AWS": "true",
        "DPO_AWS_REGION": aws["regionOverride"],
        "AWS_REGION": aws["region"],
        "AWS_ENDPOINT_URL": aws["endpoint"],
        "DPO_AWS_RESYNC_INTERVAL": aws["resyncInterval"],
        "DPO_AWS_RETRY_MODE": aws["retryMode"],
        "DPO_LEASE_NAME": values["leaderElection"]["leaseName"],
        "DPO_LOG_FORMAT": "json",
        "RUST_LOG": values["logging"]["level"],
    }
    want_env.update({e["name"]: e["value"] for e in values["extraEnv"]})
    c.check(
        "[custom] watched namespaces, concurrency, resync, AWS enabled with region and endpoint, lease, JSON logs reach the operator's environment",
        [f"{k}={env.get(k)!r}, want {v!r}" for k, v in want_env.items() if env.get(k) != v],
    )

    problems = []
    if deploy["spec"]["replicas"] != values["replicaCount"]:
        problems.append(f"replicas {deploy['spec']['replicas']}")
    image = values["image"]
    if ctr["image"] != f"{image['repository']}:{image['tag']}":
        problems.append(f"image {ctr['image']}")
    if ctr["resources"] != values["resources"]:
        problems.append(f"resources {ctr['resources']}")
    if pod.get("priorityClassName") != values["priorityClassName"]:
        problems.append("priorityClassName not set")
    if one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] != values["podDisruptionBudget"]["minAvailable"]:
        problems.append("PodDisruptionBudget minAvailable")
    sa = one(docs, "ServiceAccount")["metadata"].get("annotations") or {}
    want_sa = dict(values["serviceAccount"]["annotations"], **{"eks.amazonaws.com/role-arn": values["serviceAccount"]["awsRoleArn"]})
    if sa != want_sa:
        problems.append(f"ServiceAccount annotations {sa}, want {want_sa}")
    c.check("[custom] replicas, image, resources, priority class, PDB and the IRSA role annotation", problems)

    problems = []
    svc = one(docs, "Service")
    if svc["spec"]["ports"] != [{"name": "http-metrics", "port": values["metrics"]["service"]["port"], "targetPort": "http-metrics", "protocol": "TCP"}]:
        problems.append(f"Service ports {svc['spec']['ports']}")
    sm = [d for d in docs if d["kind"] == "ServiceMonitor"]
    if len(sm) != 1:
        problems.append("no ServiceMonitor")
    else:
        sm = sm[0]
        smv = values["metrics"]["serviceMonitor"]
        if any(sm["metadata"]["labels"].get(k) != v for k, v in smv["labels"].items()):
            problems.append("ServiceMonitor lacks its labels")
        if sm["spec"]["endpoints"] != [{"port": "http-metrics", "path": "/metrics", "interval": smv["interval"], "scrapeTimeout": "10s"}]:
            problems.append(f"ServiceMonitor endpoints {sm['spec']['endpoints']}")
        if any(svc["metadata"]["labels"].get(k) != v for k, v in sm["spec"]["selector"]["matchLabels"].items()):
            problems.append("ServiceMonitor does not select the metrics Service")
        if sm["spec"]["namespaceSelector"] != {"matchNames": [NAMESPACE]}:
            problems.append("ServiceMonitor namespaceSelector")
    c.check("[custom] metrics Service on the custom port and a ServiceMonitor scraping /metrics", problems)

    tvalues = values["templates"]
    templates = {d["metadata"]["name"]: d for d in docs if d["kind"] == "DataProductTemplate"}
    problems = []
    if sorted(templates) != sorted(tvalues["install"]):
        problems.append(f"installed {sorted(templates)}, want {sorted(tvalues['install'])}")
    for name, got in templates.items():
        source = yaml.safe_load((ROOT / "templates" / f"{name}.yaml").read_text())
        want_spec = deep_merge(deep_merge(copy.deepcopy(source["spec"]), tvalues.get("common") or {}), (tvalues.get("overrides") or {}).get(name) or {})
        if got["spec"] != want_spec:
            problems.append(f"{name}: spec is not templates/{name}.yaml with templates.common and templates.overrides.{name} merged in")
        if got["apiVersion"] != source["apiVersion"] or got["kind"] != source["kind"]:
            problems.append(f"{name}: apiVersion/kind changed")
        if (got["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") != "keep":
            problems.append(f"{name}: not kept on uninstall")
    c.check("[custom] chosen templates are installed with the common and per-template overrides, kept on uninstall", problems)

    if dpctl:
        # The chart configures the operator through environment variables: the DPO_* ones it sets
        # (all of them, with these values) must be exactly those `dpctl run` reads.
        help_text = subprocess.run([dpctl, "run", "--help"], capture_output=True, text=True, check=True).stdout
        read = set(re.findall(r"env: (DPO_[A-Z_]+)", help_text))
        chart_env = {k for k in env if k.startswith("DPO_")}
        c.check(
            "[custom] the DPO_* variables the chart sets are exactly those `dpctl run --help` lists",
            [f"dpctl run does not read {k}" for k in sorted(chart_env - read)]
            + [f"the chart never sets {k}" for k in sorted(read - chart_env)]
            + ([] if "env: POD_NAMESPACE" in help_text else ["dpctl run no longer reads POD_NAMESPACE"]),
        )
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            yaml.safe_dump_all([{k: v for k, v in t.items() if k != "__source"} for t in templates.values()], f)
        run = subprocess.run([dpctl, "validate", "-f", f.name], capture_output=True, text=True)
        Path(f.name).unlink()
        c.check("[custom] installed templates pass `dpctl validate`", [] if run.returncode == 0 else (run.stdout + run.stderr).strip())


def check_refusals(c: Checks, base: dict) -> None:
    # Refused by values.schema.json (Helm validates values before rendering) or by the templates.
    cases = [
        ("a misspelt value", {"watchNamespace": ["messaging"]}, "additional properties 'watchNamespace' not allowed"),
        ("a wildcard verb in rbac.extraRules", {"rbac": {"extraRules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}]}}, "/rbac/extraRules/0/verbs/0"),
        ("a wildcard resource in rbac.extraRules", {"rbac": {"extraRules": [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}]}}, "wildcard"),
        ("a wildcard API group in rbac.extraRules", {"rbac": {"extraRules": [{"apiGroups": ["*"], "resources": ["deployments"], "verbs": ["get"]}]}}, "wildcard"),
        ("an incomplete rbac.extraRules entry", {"rbac": {"extraRules": [{"resources": ["deployments"], "verbs": ["get"]}]}}, "apiGroups"),
        ("two replicas without leader election", {"replicaCount": 2, "leaderElection": {"enabled": False}}, "leaderElection"),
        ("an unknown template", {"templates": {"install": ["standard", "golden"]}}, "/templates/install/1"),
        ("an unknown log format", {"logging": {"format": "yaml"}}, "/logging/format"),
        ("a resync interval that is no duration", {"resyncInterval": "often"}, "/resyncInterval"),
        ("a resync interval in milliseconds (dpctl run counts whole seconds)", {"resyncInterval": "500ms"}, "/resyncInterval"),
        ("a zero freshness interval", {"freshnessInterval": "0s"}, "/freshnessInterval"),
        ("a zero AWS resync interval", {"aws": {"resyncInterval": "0m"}}, "/aws/resyncInterval"),
        ("a PodDisruptionBudget that allows no disruption", {"replicaCount": 2, "podDisruptionBudget": {"minAvailable": 2}}, "blocks every node drain"),
        ("a PodDisruptionBudget of 100%", {"replicaCount": 2, "podDisruptionBudget": {"minAvailable": "100%"}}, "blocks every node drain"),
        ("a PodDisruptionBudget that is no number or percentage", {"podDisruptionBudget": {"minAvailable": "one"}}, "/podDisruptionBudget/minAvailable"),
        ("a ServiceMonitor without the Service", {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}}, "metrics.service.enabled"),
        ("no ServiceAccount and no name", {"serviceAccount": {"create": False}}, "serviceAccount.name"),
    ]
    for name, values, want in cases:
        error = render_error(deep_merge(copy.deepcopy(base), values))
        c.check(f"refuses {name}", None if error and want in error else f"rendered error {error!r}, want one mentioning {want!r}")

    single = render({"replicaCount": 1, "leaderElection": {"enabled": False}})
    env = env_of(one(single, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    kinds = {d["kind"] for d in single}
    c.check(
        "one replica without leader election: no PDB, no Lease Role, DPO_LEADER_ELECTION=false",
        [f"renders {k}" for k in ("PodDisruptionBudget", "Role", "RoleBinding") if k in kinds]
        + ([] if env.get("DPO_LEADER_ELECTION") == "false" else [f"DPO_LEADER_ELECTION={env.get('DPO_LEADER_ELECTION')!r}"]),
    )
    norbac = render({"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "platform-operator"}})
    c.check(
        "rbac.create=false and an existing ServiceAccount: no RBAC objects, the given account",
        [f"renders {d['kind']}" for d in norbac if d["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount")]
        + ([] if one(norbac, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "platform-operator" else ["serviceAccountName"]),
    )


def check_values_schema(c: Checks) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    problems = []
    declared = set(schema["properties"]) - {"global"}
    if declared != set(values):
        problems.append(f"values.schema.json declares {sorted(declared ^ set(values))} unlike values.yaml")
    offered = sorted(schema["properties"]["templates"]["properties"]["install"]["items"]["enum"])
    shipped = sorted(p.stem for p in (CHART / "files" / "templates").glob("*.yaml"))
    if offered != shipped:
        problems.append(f"templates.install offers {offered}, the chart ships {shipped}")
    with helm.Chart.load(str(CHART)) as chart:
        for name, v in (("defaults", None), ("custom", yaml.safe_load(CUSTOM_VALUES.read_text()))):
            try:
                chart.validate_schema(v)
            except helm.HelmError as e:  # type: ignore[attr-defined]
                problems.append(f"{name} values do not pass: {e}")
    c.check("values.schema.json covers values.yaml and the shipped templates", problems)


def check_readme(c: Checks) -> None:
    readme = (CHART / "README.md").read_text()
    documented = set(re.findall(r"`([A-Za-z0-9_.\-]+)`", readme))
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    # Whole objects documented as one value (their keys are the Kubernetes API's).
    objects = {"resources", "catalogue.resources", "podSecurityContext", "securityContext", "livenessProbe", "readinessProbe"}
    missing = [
        p for p in value_paths(values)
        if p not in documented and not any(p.startswith(o + ".") and o in documented for o in objects)
    ]
    c.check("chart README documents every value", [f"{p} is not in charts/dataproduct-operator/README.md" for p in missing])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dpctl", help="dpctl binary: validate the templates the chart installs")
    args = parser.parse_args()

    c = Checks()
    print(f"Helm engine: helm-python-sdk (libhelm_c), chart {CHART.relative_to(ROOT)}")
    check_sources(c)
    check_readme(c)
    check_values_schema(c)
    custom = yaml.safe_load(CUSTOM_VALUES.read_text())
    for label, values in (("defaults", None), ("custom", custom)):
        check_lint(c, label, values)
        docs = render(values)
        check_manifests(c, label, docs)
        check_rbac(c, label, docs, (values or {}).get("rbac", {}).get("extraRules") or [])
        check_catalogue(c, label, docs, values)
        # The operator's own checks see only the operator's objects.
        docs = [d for d in docs if not is_catalogue(d)]
        check_deployment(c, label, docs, (values or {}).get("port", 8080))
        if values is None:
            check_defaults(c, docs)
        else:
            check_custom(c, docs, values, args.dpctl)
    check_refusals(c, {})

    print(f"{c.passed} passed, {len(c.failed)} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
