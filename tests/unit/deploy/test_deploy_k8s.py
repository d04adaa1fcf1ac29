"""k8s/: kustomize renders, every object validates against the Kubernetes schema, and the shape the
issue asks for (F-PLAT-2, seed 001 "Kubernetes Deployment") holds."""

from __future__ import annotations

import copy
import shutil
from typing import Any

import kubernetes_validate
import pytest
from unit.deploy.helpers import (
    K8S,
    SEED_RESOURCES,
    SERVICES,
    Rendered,
    load_yaml,
    render_with_kubectl,
    render_with_parser,
)

# The oldest Kubernetes these manifests target (autoscaling/v2 and policy/v1 are GA well before it)
# and the newest schema the installed kubernetes-validate bundles.
LATEST = kubernetes_validate.utils.latest_version()
K8S_VERSIONS = ("1.29.0", LATEST if LATEST.count(".") == 2 else LATEST + ".0")

HPA_TARGETS = {"venom-organ-regen", "venom-organ-balance", "venom-organ-entropy", "venom-organ-optimize",
               "venom-orchestrator"}


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


@pytest.mark.parametrize("overlay", ["base", "overlays/production"])
def test_fallback_renderer_matches_kustomize(overlay: str) -> None:
    """The parser used where kubectl is absent renders exactly what kustomize renders."""
    if shutil.which("kubectl") is None and shutil.which("kustomize") is None:
        pytest.skip("neither kubectl nor kustomize installed: nothing to compare the fallback with")
    ours = sorted(render_with_parser(K8S / overlay), key=_key)
    theirs = sorted(render_with_kubectl(K8S / overlay), key=_key)
    assert [_key(d) for d in ours] == [_key(d) for d in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a == b, _key(a)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_validates_against_the_schema(base: Rendered, production: Rendered, version: str) -> None:
    for doc in base.docs + production.docs:
        # strict: unknown fields are errors too (a misspelt key would otherwise pass silently)
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_broken_manifest(base: Rendered) -> None:
    """The schema check above can fail: a misplaced field and a wrong type are caught."""
    bad = copy.deepcopy(base.get("Deployment", "venom-orchestrator"))
    bad["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[0], strict=True)
    bad = copy.deepcopy(base.get("HorizontalPodAutoscaler", "venom-orchestrator"))
    bad["spec"]["minReplicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[0], strict=True)


def test_hpa_exactly_as_seed_001(base: Rendered) -> None:
    hpas = {h["metadata"]["name"]: h for h in base.of_kind("HorizontalPodAutoscaler")}
    assert set(hpas) == HPA_TARGETS
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 10)
        assert spec["metrics"] == [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]
        up, down = spec["behavior"]["scaleUp"], spec["behavior"]["scaleDown"]
        # up: 100 % per 30 s but at most 2 pods — the smaller of the two policies applies
        assert up["selectPolicy"] == "Min" and up["stabilizationWindowSeconds"] == 0
        assert sorted(up["policies"], key=lambda p: p["type"]) == [
            {"type": "Percent", "value": 100, "periodSeconds": 30}, {"type": "Pods", "value": 2, "periodSeconds": 30}]
        # down: 50 % per 60 s after a 5 min stabilisation window
        assert down["stabilizationWindowSeconds"] == 300
        assert down["policies"] == [{"type": "Percent", "value": 50, "periodSeconds": 60}]
        deployment = base.get("Deployment", name)
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_every_venom_container_has_the_seed_resources(base: Rendered) -> None:
    for workload in base.workloads():
        for c in _pod_spec(workload)["containers"]:
            assert c["resources"] == SEED_RESOURCES, _key(workload)


def test_per_node_services_are_daemonsets_and_the_ledger_a_single_writer(base: Rendered) -> None:
    assert {d["metadata"]["name"] for d in base.of_kind("DaemonSet")} == {
        "venom-hardware-agent", "venom-arbiter", "venom-mesh-discovery"}
    assert {d["metadata"]["name"] for d in base.of_kind("Deployment")} == HPA_TARGETS
    ledger = base.get("StatefulSet", "venom-ledger")
    assert ledger["spec"]["replicas"] == 1
    # half a core (the seed's limit): the ledger encodes in its own process, no worker to hand over to
    ledger_env = {e["name"]: e.get("value") for e in _pod_spec(ledger)["containers"][0]["env"]}
    assert ledger_env["VENOM_LEDGER_ENCODE_WORKERS"] == "0"
    assert _pod_spec(ledger)["containers"][0]["resources"]["limits"]["cpu"] == "500m"
    headless = base.get("Service", ledger["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    # the arbiter and the hardware agent of one node share its id: the node's name
    for name in ("venom-hardware-agent", "venom-arbiter"):
        c = _pod_spec(base.get("DaemonSet", name))["containers"][0]
        env = {e["name"]: e for e in c["env"]}
        assert env["K8S_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
        assert 'VENOM_NODE_ID="$(printf %s "$K8S_NODE_NAME" | tr . -)"' in c["command"][-1]


def test_every_workload_is_probed_and_hardened(base: Rendered) -> None:
    for workload in base.workloads():
        spec = _pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        for c in spec["containers"]:
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", _key(workload)
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", _key(workload)
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
            assert sc["capabilities"]["drop"] == ["ALL"]
            http = next(p for p in c["ports"] if p["name"] == "http")
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert env["VENOM_PORT"] == str(http["containerPort"])
            # metrics port annotated for Prometheus
            assert annotations["prometheus.io/scrape"] == "true"
            assert annotations["prometheus.io/port"] == str(http["containerPort"])
    ports = {w["metadata"]["name"]: next(p["containerPort"] for p in _pod_spec(w)["containers"][0]["ports"])
             for w in base.workloads()}
    expected = {("venom-" + name): port for name, (_, port, _, _) in SERVICES.items()}
    assert ports == expected


def test_services_select_pods_that_exist(base: Rendered) -> None:
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in base.workloads()]
    for svc in base.of_kind("Service"):
        selector = svc["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), svc["metadata"]["name"]
        for port in svc["spec"]["ports"]:
            target = port["targetPort"]
            selected = [w for w in base.workloads()
                        if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
            names = {p["name"] for w in selected for c in _pod_spec(w)["containers"] for p in c["ports"]}
            assert target in names, (svc["metadata"]["name"], target)
    for pdb in base.of_kind("PodDisruptionBudget"):
        match = pdb["spec"]["selector"]["matchLabels"]
        assert any(match.items() <= labels.items() for labels in pod_labels), pdb["metadata"]["name"]


def test_loadbalancer_on_8000_and_headless_discovery(base: Rendered) -> None:
    lb = [s for s in base.of_kind("Service") if s["spec"].get("type") == "LoadBalancer"]
    assert [s["metadata"]["name"] for s in lb] == ["venom-orchestrator"]
    assert {p["port"] for p in lb[0]["spec"]["ports"]} == {8000, 50051}
    # tasks live in the replica that dispatched them: a client sticks to one replica, by its own address
    assert lb[0]["spec"]["sessionAffinity"] == "ClientIP" and lb[0]["spec"]["externalTrafficPolicy"] == "Local"
    mesh = base.get("Service", "venom-mesh")
    assert mesh["spec"]["clusterIP"] == "None" and mesh["spec"]["publishNotReadyAddresses"] is True
    c = _pod_spec(base.get("DaemonSet", "venom-mesh-discovery"))["containers"][0]
    env = {e["name"]: e.get("value") for e in c["env"]}
    host, _, port = env["VENOM_MESH_DNS_NAMES"].partition(":")
    assert host == "venom-mesh"
    assert int(port) in {p["port"] for p in mesh["spec"]["ports"] if p["protocol"] == "UDP"}


def test_pdbs_for_the_replicated_services(base: Rendered) -> None:
    names = {p["metadata"]["name"] for p in base.of_kind("PodDisruptionBudget")}
    assert names == HPA_TARGETS | {"venom-ledger"}


def test_config_and_secret(base: Rendered, production: Rendered) -> None:
    config = base.get("ConfigMap", "venom-config")["data"]
    assert config["VENOM_BIND_HOST"] == "0.0.0.0"
    assert config["VENOM_NATS_URL"] == "nats://nats:4222"
    secret = base.get("Secret", "venom-secrets")["stringData"]
    for key, value in secret.items():
        if key != "VENOM_NATS_USER":
            assert "change-me" in value or "replace-with" in value, f"{key} must be a placeholder"
    # every secretKeyRef names a key of the Secret; secrets only where needed
    for workload in base.workloads():
        for c in _pod_spec(workload)["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "venom-secrets" and ref["key"] in secret
            refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in c["env"] if "secretKeyRef" in e.get("valueFrom", {})}
            if workload["metadata"]["name"] != "venom-ledger":
                assert "VENOM_DATABASE_URL" not in refs, "only the ledger reads PostgreSQL"
            if workload["metadata"]["name"] != "venom-orchestrator":
                assert "VENOM_API_TOKEN" not in refs
    # production never applies the placeholders over the real Secret
    assert production.of_kind("Secret") == []
    assert all(d["metadata"].get("namespace") == "venom" for d in production.docs if d["kind"] != "Namespace")


def test_nats_helm_values() -> None:
    values = load_yaml(K8S / "nats" / "values.yaml")
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    js = values["config"]["jetstream"]
    assert js["enabled"] and js["fileStore"]["enabled"] and js["fileStore"]["pvc"]["enabled"]
    auth = values["config"]["merge"]["authorization"]
    assert auth == {"user": "<< $VENOM_NATS_USER >>", "password": "<< $VENOM_NATS_PASSWORD >>"}
    for var in ("VENOM_NATS_USER", "VENOM_NATS_PASSWORD"):
        assert values["container"]["env"][var]["valueFrom"]["secretKeyRef"] == {"name": "venom-secrets", "key": var}
    tag = values["container"]["image"]["tag"]
    assert tag[0].isdigit() and tag.count(".") == 2
