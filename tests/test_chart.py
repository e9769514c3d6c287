"""The engine chart judged by the real things: Helm 3 (`lint --strict`, `template`) fed exactly
the values the prod stack hands its Release, every rendered manifest checked against the
Kubernetes API's own schemas (`kubernetes-validate --strict`) for the cluster's version, and the
Gateway and HTTPRoute against the Gateway API's own (tests/support/gateway_api_judge.py)."""

from __future__ import annotations

import copy
import dataclasses
import re
import shutil
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, major_minor

from components.serving import https_entry
from offline.evaluate import ROOT, Evaluation
from tests.support import gateway_api_judge
from tests.support.evaluations import deploy, prod_aks
from tests.support.helm_tool import AKS_SUPPORTED_MINORS, CHART, CLUSTER, RELEASE, Helm, kube_versions, require_helm

pytestmark = pytest.mark.slow_tool

EXPECTED_KINDS = {
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Secret",
    "ServiceAccount",
    "NetworkPolicy",
    "Gateway",
    "HTTPRoute",
}
# The paths the serving image's processes write, each mounted writable (an emptyDir) over the
# read-only root filesystem: the inference server writes only under /tmp, which
# tests/test_serving_contract.py::test_the_server_writes_only_under_tmp measures on the real server.
WRITABLE_PATHS = {"/tmp": "gunicorn's heartbeat files and control socket (XDG_RUNTIME_DIR)"}
ZONE = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-digitre-prod/providers/Microsoft.Network/dnszones/digitre.com"


def proxy_pod(gateway_name: str, class_name: str = https_entry.GATEWAY_CLASS) -> dict[str, str]:
    """A gateway proxy pod's labels, as Istio's gateway deployment template sets them."""
    return {
        "gateway.networking.k8s.io/gateway-name": gateway_name,
        "gateway.networking.k8s.io/gateway-class-name": class_name,
        "https_entry.istio.io/managed": "istio.io-gateway-controller",
        "sidecar.istio.io/inject": "false",
        "service.istio.io/canonical-name": f"{gateway_name}-{class_name}",
    }


# The add-on's external-dns pods, neighbours of the proxies in the Gateway's namespace.
EXTERNAL_DNS_POD = {"app": "external-dns", "app.kubernetes.io/managed-by": "aks-app-routing-operator"}


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(require_helm(), tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def prod(served: dict[str, Evaluation]) -> Evaluation:
    return served["prod"]


@pytest.fixture(scope="module")
def release(prod: Evaluation) -> dict[str, Any]:
    return prod.one(RELEASE).inputs


@pytest.fixture(scope="module")
def rendered(helm: Helm, prod: Evaluation, release: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The prod release rendered by Helm for each Kubernetes minor it must run on."""
    return {
        version: helm.render(release["name"], release["namespace"], release["values"], version)
        for version in kube_versions(prod)
    }


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]


def any_render(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return next(iter(rendered.values()))


def test_the_prod_cluster_version_maps_to_kubernetes_minors(prod):
    assert kube_versions(prod) == AKS_SUPPORTED_MINORS  # Pulumi.prod.yaml sets no kubernetesVersion
    pinned = Evaluation("prod")
    pinned.resources = [r for r in prod.resources if r.type != CLUSTER]
    cluster = prod.one(CLUSTER)
    pinned.resources.append(dataclasses.replace(cluster, inputs={**cluster.inputs, "kubernetesVersion": "1.35.7"}))
    assert kube_versions(pinned) == ("1.35",)


def test_kubernetes_validate_ships_schemas_for_every_minor_the_cluster_may_run(prod):
    # validate() silently falls back to an older schema for a minor it lacks: require an exact one.
    shipped = {major_minor(v) for v in all_versions()}
    missing = sorted(set(kube_versions(prod)) - shipped)
    assert missing == [], f"kubernetes-validate ships no schemas for {missing}: upgrade it (ships {sorted(shipped)})"


def test_the_chart_lints_strictly_with_the_prod_values(helm, prod, release):
    for version in kube_versions(prod):
        result = helm.lint(release["values"], release["namespace"], version)
        assert result.returncode == 0, f"helm lint --strict (Kubernetes {version}):\n{result.stdout}{result.stderr}"
        assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


def test_every_manifest_the_prod_release_renders_is_valid_for_its_kubernetes_version(rendered):
    for version, docs in rendered.items():
        assert {d["kind"] for d in docs} == EXPECTED_KINDS
        errors = []
        for doc in docs:
            if gateway_api_judge.is_gateway_api(doc):
                continue  # no schema in kubernetes-validate: judged by the Gateway API's own below
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                errors.append(f"{doc['kind']}/{doc['metadata']['name']} at {list(error.path)}: {error.message}")
        assert errors == [], f"Kubernetes {version} rejects:\n" + "\n".join(errors)


def broken(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rendered route and gateway each with one value their schemas refuse, and a misspelled kind."""
    route, gw = copy.deepcopy(one(docs, "HTTPRoute")), copy.deepcopy(one(docs, "Gateway"))
    route["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Exactly"
    gw["spec"]["listeners"][0]["tls"]["mode"] = "Decrypt"
    unknown = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gatway", "metadata": {"name": "x"}}
    return [route, gw, unknown]


@pytest.fixture(scope="module")
def gateway_verdicts(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, list[str | None]]:
    """The Gateway API judge's verdicts, from one run of it: the Gateway API objects of each
    rendering (by Kubernetes minor), and under "broken" the documents `broken` spoils."""
    batches = {version: [d for d in docs if gateway_api_judge.is_gateway_api(d)] for version, docs in rendered.items()}
    batches["broken"] = broken(any_render(rendered))
    verdicts = iter(gateway_api_judge.judge([doc for docs in batches.values() for doc in docs]))
    return {name: [next(verdicts) for _ in docs] for name, docs in batches.items()}


def test_the_gateway_and_route_pass_the_gateway_api_schemas(rendered, gateway_verdicts):
    for version, docs in rendered.items():
        judged = [d for d in docs if gateway_api_judge.is_gateway_api(d)]
        assert sorted(d["kind"] for d in judged) == ["Gateway", "HTTPRoute"]
        assert gateway_verdicts[version] == [None, None], version


def test_the_gateway_api_judge_refuses_a_broken_route(gateway_verdicts):
    verdicts = gateway_verdicts["broken"]
    assert verdicts[0] and "path/type" in verdicts[0]
    assert verdicts[1] and "tls/mode" in verdicts[1]
    assert verdicts[2] == "no schema for gateway.networking.k8s.io/v1 Gatway"
    assert gateway_api_judge.installed_version() == "2.0.0"


def test_strict_validation_rejects_a_misspelled_field(rendered):
    deployment = copy.deepcopy(one(any_render(rendered), "Deployment"))
    kubernetes_validate.validate(deployment, "1.36", strict=True)
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.36", strict=True)


def test_every_object_is_in_the_release_namespace(rendered, release):
    for doc in any_render(rendered):
        assert doc["metadata"].get("namespace") == release["namespace"], doc["kind"]


def test_helm_applies_the_values_schema(helm, release):
    values = {**release["values"], "containerPort": 0}
    result = helm.template(release["name"], release["namespace"], values, "1.36")
    assert result.returncode != 0 and "containerPort" in result.stderr


# --- The public entry: HTTPS only, the contract's routes, the gateway's proxies alone ---------


def test_the_gateway_is_https_only_with_tls_from_key_vault(rendered, release, prod):
    docs = any_render(rendered)
    values = release["values"]["gateway"]
    gw = one(docs, "Gateway")
    assert gw["metadata"]["name"] == https_entry.GATEWAY_NAME
    assert gw["spec"]["gatewayClassName"] == https_entry.GATEWAY_CLASS
    (listener,) = gw["spec"]["listeners"]
    assert listener == {
        "name": "https",
        "hostname": values["host"],
        "port": 443,
        "protocol": "HTTPS",
        "tls": {"mode": "Terminate", "options": values["tlsOptions"]},
        "allowedRoutes": {"namespaces": {"from": "Same"}},
    }
    # What the entry says of itself (policy and plan read it) is what the chart renders.
    said = prod.one(https_entry.TYPE).outputs
    assert said["listeners"] == [{k: listener[k] for k in ("name", "protocol", "port", "hostname")}]
    assert said["gatewayClassName"] == gw["spec"]["gatewayClassName"]
    assert {d["kind"] for d in docs}.isdisjoint({"Ingress"})


def test_the_route_publishes_exactly_the_contract_paths_to_the_engine_service(rendered, release):
    docs = any_render(rendered)
    values = release["values"]
    route, service = one(docs, "HTTPRoute"), one(docs, "Service")
    assert route["spec"]["parentRefs"] == [{"name": values["gateway"]["name"], "sectionName": "https"}]
    assert route["spec"]["hostnames"] == [values["gateway"]["host"]]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [
        {"path": {"type": "Exact", "value": path}} for path in (values["healthPath"], values["scorePath"])
    ]
    assert rule["backendRefs"] == [{"name": service["metadata"]["name"], "port": service["spec"]["ports"][0]["port"]}]
    assert service["spec"]["type"] == "ClusterIP"


def test_the_entrys_service_account_is_bound_by_workload_identity(rendered, release):
    identity = release["values"]["gateway"]["identity"]
    (account,) = [
        d
        for d in any_render(rendered)
        if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == identity["serviceAccount"]
    ]
    assert account["metadata"]["namespace"] == release["namespace"]
    assert account["metadata"]["annotations"] == {"azure.workload.identity/client-id": identity["clientId"]}
    assert account["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert release["values"]["gateway"]["tlsOptions"][https_entry.SERVICE_ACCOUNT_OPTION] == identity["serviceAccount"]


def test_a_dns_zone_renders_the_add_ons_externaldns(helm, release, rendered):
    assert not [d for d in any_render(rendered) if d["kind"] == "ExternalDNS"]
    values = copy.deepcopy(release["values"])
    values["gateway"]["dnsZoneResourceIds"] = [ZONE]
    docs = helm.render(release["name"], release["namespace"], values, "1.36")
    external = one(docs, "ExternalDNS")
    assert external["apiVersion"] == "approuting.kubernetes.azure.com/v1alpha1"
    assert external["metadata"]["namespace"] == release["namespace"]
    assert external["spec"] == {
        "resourceName": external["metadata"]["name"],
        "dnsZoneResourceIDs": [ZONE],
        "resourceTypes": ["gateway"],
        "identity": {"type": "workloadIdentity", "serviceAccount": values["gateway"]["identity"]["serviceAccount"]},
    }


def test_the_values_schema_refuses_what_would_open_plain_http_or_another_class(helm, release):
    for key, value in (("className", "istio"), ("tlsOptions", {}), ("host", "")):
        values = copy.deepcopy(release["values"])
        values["gateway"][key] = value
        result = helm.template(release["name"], release["namespace"], values, "1.36")
        assert result.returncode != 0 and "gateway" in result.stderr, key


# --- NetworkPolicy: only the gateway's proxies reach the engine port ----------------------------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels semantics (the chart uses no matchExpressions)."""
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def admits(
    policy: dict[str, Any], namespace: str, namespace_labels: dict[str, str], pod_labels: dict[str, str], port: int
) -> bool:
    """Whether the policy lets a pod with these labels connect to `port` of the pods it selects."""
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    for rule in spec.get("ingress") or []:
        ports = rule.get("ports")
        if ports and not any(p.get("protocol", "TCP") == "TCP" and p.get("port") == port for p in ports):
            continue
        for peer in rule.get("from") or []:
            if "namespaceSelector" in peer:
                in_namespace = selects(peer["namespaceSelector"], namespace_labels)
            else:
                in_namespace = namespace == policy["metadata"]["namespace"]
            if in_namespace and selects(peer.get("podSelector", {}), pod_labels):
                return True
    return False


def test_the_network_policy_isolates_the_engine_pods(rendered):
    docs = any_render(rendered)
    policy, deployment = one(docs, "NetworkPolicy"), one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"] == deployment["spec"]["selector"]
    assert selects(policy["spec"]["podSelector"], pod_labels)


def test_only_the_gateways_proxies_reach_the_engine_port(rendered, release):
    docs = any_render(rendered)
    policy = one(docs, "NetworkPolicy")
    port = int(release["values"]["containerPort"])
    container_ports = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert [p["containerPort"] for p in container_ports] == [port]
    namespace = release["namespace"]
    labels = {"kubernetes.io/metadata.name": namespace}
    proxy = proxy_pod(one(docs, "Gateway")["metadata"]["name"])
    assert admits(policy, namespace, labels, proxy, port)
    # The same proxies may not reach any other port (gunicorn's own, say).
    assert not admits(policy, namespace, labels, proxy, 31311)
    # Neither another Gateway's proxies, nor a look-alike in another namespace, nor the add-on's
    # external-dns beside them, nor the engine's neighbours, nor the retired NGINX controller.
    assert not admits(policy, namespace, labels, proxy_pod("other"), port)
    assert not admits(policy, namespace, labels, proxy_pod(https_entry.GATEWAY_NAME, "istio"), port)
    assert not admits(policy, "default", {"kubernetes.io/metadata.name": "default"}, proxy, port)
    assert not admits(policy, namespace, labels, EXTERNAL_DNS_POD, port)
    assert not admits(policy, namespace, labels, {"app": "debug"}, port)
    nginx = {
        "app.kubernetes.io/component": "ingress-controller",
        "app.kubernetes.io/managed-by": "aks-app-routing-operator",
    }
    assert not admits(policy, "app-routing-system", {"kubernetes.io/metadata.name": "app-routing-system"}, nginx, port)


# --- PodDisruptionBudget: never blocks a node drain ------------------------------------------


def disruptions_allowed(pdb: dict[str, Any], healthy: int) -> int:
    """What the disruption controller allows with `healthy` ready pods of `healthy` expected."""
    spec = pdb["spec"]
    if "maxUnavailable" in spec:
        return healthy - (healthy - int(spec["maxUnavailable"]))
    return healthy - int(spec["minAvailable"])


@pytest.fixture(scope="module")
def single_replica(shared: Evaluation) -> Evaluation:
    run = deploy("prod", shared, overrides=prod_aks(keep_file=False, minReplicas=1, maxReplicas=3))
    assert run.error is None, run.error
    return run


def test_a_drain_can_evict_at_every_replica_count_even_one(helm, single_replica):
    inputs = single_replica.one(RELEASE).inputs
    docs = helm.render(inputs["name"], inputs["namespace"], inputs["values"], "1.36")
    hpa, pdb = one(docs, "HorizontalPodAutoscaler"), one(docs, "PodDisruptionBudget")
    assert hpa["spec"]["minReplicas"] == 1
    for replicas in range(hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"] + 1):
        assert disruptions_allowed(pdb, replicas) >= 1, f"a drain blocks with {replicas} replica(s)"
    # A pod that is not ready cannot hold a drain hostage either.
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["spec"]["selector"] == one(docs, "Deployment")["spec"]["selector"]


def test_the_drain_arithmetic_catches_a_floor_of_one():
    assert disruptions_allowed({"spec": {"minAvailable": 1}}, 1) == 0
    assert disruptions_allowed({"spec": {"maxUnavailable": 1}}, 1) == 1


# --- Read-only root filesystem: writable exactly where the image writes ------------------------


def test_the_root_filesystem_is_read_only_with_emptydirs_exactly_where_the_image_writes(rendered):
    pod = one(any_render(rendered), "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts) == set(WRITABLE_PATHS)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(volumes) == set(mounts.values())
    for volume in volumes.values():
        assert set(volume) == {"name", "emptyDir"}, volume
        assert volume["emptyDir"].get("sizeLimit"), f"{volume['name']} is unbounded"
    assert all(not m.get("readOnly") for m in container["volumeMounts"])


def test_the_pods_run_in_a_user_namespace_where_aks_supports_one(rendered, prod):
    # AKS runs pods with `hostUsers: false` from Kubernetes 1.33 on Azure Linux (or Ubuntu
    # 24.04+) nodes: the cluster's every minor and its nodes' OS must be among those.
    pod = one(any_render(rendered), "Deployment")["spec"]["template"]["spec"]
    assert pod["hostUsers"] is False
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), "a user namespace excludes the host's namespaces"
    assert all(tuple(map(int, v.split("."))) >= (1, 33) for v in kube_versions(prod))
    # The engine's pods run on the user pool only (the system pool is tainted for add-ons).
    pool = prod.one("azure-native:containerservice:AgentPool").inputs
    assert pool["nodeLabels"] == pod["nodeSelector"]
    assert (pool["osType"], pool["osSKU"]) == ("Linux", "AzureLinux")


def test_the_serving_image_runs_what_the_contract_tests_measured():
    # WRITABLE_PATHS holds for the inference server started directly with its runtime dir in
    # /tmp; the base image's runit supervisor (nginx, rsyslog) would write elsewhere.
    dockerfile = (ROOT / "serving" / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["azmlinfsrv"\]$', dockerfile, re.M)
    assert re.search(r"XDG_RUNTIME_DIR=/tmp\b", dockerfile)
    assert re.search(r"^USER 1000:1000$", dockerfile, re.M)


# --- NOTES.txt ---------------------------------------------------------------------------------


def test_the_notes_tell_how_to_reach_the_engine(helm, release, tmp_path):
    # `helm template` leaves NOTES.txt out and `helm install --dry-run` needs a cluster, so a copy
    # of the chart renders the same text, with the same engine and values, as a ConfigMap.
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "zz-notes.yaml").write_text(
        '{{- define "test.notes" }}' + notes + "{{ end }}\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ include "test.notes" . | toJson }}\n'
    )
    docs = helm.render(
        release["name"],
        release["namespace"],
        release["values"],
        "1.36",
        chart=chart,
        extra=["--show-only", "templates/zz-notes.yaml"],
    )
    text = one(docs, "ConfigMap")["data"]["notes"]
    name, namespace = release["name"], release["namespace"]
    values = release["values"]
    assert f"http://{name}.{namespace}.svc.cluster.local:{int(values['service']['port'])}" in text
    assert f"GET  {values['healthPath']}" in text and f"POST {values['scorePath']}" in text
    assert f"kubectl --namespace {namespace} port-forward service/{name} 8080:{int(values['service']['port'])}" in text
    gw = values["gateway"]
    assert f"Gateway\n{gw['name']} (class {gw['className']})" in text and f"https://{gw['host']}" in text
    assert "{{" not in text and "<no value>" not in text
