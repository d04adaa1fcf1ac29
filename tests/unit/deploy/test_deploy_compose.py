"""docker-compose.yml and what it mounts (deploy/): parsed and checked offline (F-PLAT-1, -4, -5)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from unit.deploy.helpers import ROOT, SERVICES, load_yaml
from venom_cli.services import REGISTRY

COMPOSE = load_yaml(ROOT / "docker-compose.yml")
SERVERS = {"nats", "postgres", "jaeger", "prometheus", "grafana"}
#: ${NAME:?message} — a secret compose refuses to start without.
REQUIRED_VAR = re.compile(r"\$\{(\w+):\?[^}]*\}")
SECRETS = {"VENOM_NATS_USER", "VENOM_NATS_PASSWORD", "VENOM_POSTGRES_PASSWORD", "VENOM_LEDGER_SIGNING_KEY",
           "VENOM_API_TOKEN", "VENOM_MESH_KEY", "VENOM_GRAFANA_ADMIN_PASSWORD"}
#: Metrics the dashboard shows that a service does not export yet (none now).
PENDING_METRICS: set[str] = set()


def _services() -> dict[str, dict[str, Any]]:
    return COMPOSE["services"]


def test_every_service_and_server_is_there() -> None:
    assert set(_services()) == SERVERS | set(SERVICES)


def test_registry_ports_agree() -> None:
    """The compose services, ports and modules are the ones `venom up` runs (libs/venom_cli/services.py)."""
    registry = {spec.name: (spec.module, spec.port) for spec in REGISTRY}
    assert registry == {name: (module, port) for name, (module, port, _, _) in SERVICES.items()}


@pytest.mark.parametrize("name", sorted(SERVERS | set(SERVICES)))
def test_healthcheck_image_and_loopback_ports(name: str) -> None:
    service = _services()[name]
    assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert "image" in service or "build" in service
    image = service["image"]
    repo, _, tag = image.rpartition(":")
    assert repo and tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: unpinned image {image}"
    for port in service.get("ports", []):
        # no port on every interface: 127.0.0.1:HOST:CONTAINER only
        assert re.fullmatch(r"127\.0\.0\.1:\d+:\d+", str(port)), f"{name} publishes {port} beyond loopback"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_venom_service(name: str) -> None:
    module, port, folder, _ = SERVICES[name]
    service = _services()[name]
    build = service["build"]
    assert build["context"] == "." and build["dockerfile"] == f"services/{folder}/Dockerfile"
    assert (ROOT / build["dockerfile"]).is_file()
    env = service["environment"]
    assert env["VENOM_PORT"] == str(port)
    assert env["VENOM_BIND_HOST"] == "0.0.0.0"  # inside the container; published ports stay on loopback
    assert env["VENOM_NATS_URL"] == "nats://nats:4222"
    assert env["VENOM_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert REQUIRED_VAR.fullmatch(env["VENOM_NATS_PASSWORD"])
    # depends_on with health conditions, at least on the bus
    deps = service["depends_on"]
    assert deps["nats"] == {"condition": "service_healthy"}
    assert all(d["condition"] == "service_healthy" for d in deps.values()), name
    # the healthcheck asks /healthz on VENOM_PORT
    assert "/healthz" in service["healthcheck"]["test"][-1] and "VENOM_PORT" in service["healthcheck"]["test"][-1]
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


def test_dependencies_exist_and_have_healthchecks() -> None:
    for name, service in _services().items():
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in _services(), (name, dep)
            assert cond["condition"] == "service_healthy" and "healthcheck" in _services()[dep]
    assert "postgres" in _services()["ledger"]["depends_on"]


def test_secrets_only_from_the_env_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(REQUIRED_VAR.findall(text))
    assert used == SECRETS
    example = (ROOT / "deploy" / "venom.env.example").read_text()
    documented = {line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")}
    assert SECRETS <= documented
    # each secret goes only where it is needed
    env_of = {name: s.get("environment", {}) for name, s in _services().items()}
    holders = {var: {n for n, env in env_of.items() if any(var in str(v) for v in env.values())} for var in SECRETS}
    assert holders["VENOM_LEDGER_SIGNING_KEY"] == {"ledger"}
    assert holders["VENOM_API_TOKEN"] == {"orchestrator"}
    assert holders["VENOM_MESH_KEY"] == {"mesh-discovery"}
    assert holders["VENOM_POSTGRES_PASSWORD"] == {"postgres", "ledger"}
    assert "deploy/venom.env" in (ROOT / ".gitignore").read_text().splitlines()


def test_servers_configured() -> None:
    nats = _services()["nats"]
    conf = (ROOT / "deploy" / "nats" / "nats.conf").read_text()
    assert "./deploy/nats/nats.conf:/etc/nats/nats.conf:ro" in nats["volumes"]
    assert re.search(r"jetstream\s*\{\s*store_dir:\s*/data", conf)
    assert re.search(r"authorization\s*\{\s*user:\s*\$VENOM_NATS_USER\s+password:\s*\$VENOM_NATS_PASSWORD", conf)
    assert "http_port: 8222" in conf and any(v.startswith("nats-data:") for v in nats["volumes"])
    assert any(v.startswith("postgres-data:") for v in _services()["postgres"]["volumes"])
    assert _services()["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_prometheus_scrapes_every_service() -> None:
    config = load_yaml(ROOT / "deploy" / "prometheus" / "prometheus.yml")
    venom = next(job for job in config["scrape_configs"] if job["job_name"] == "venom")
    targets = {t: sc["labels"]["service"] for sc in venom["static_configs"] for t in sc["targets"]}
    assert targets == {f"{name}:{port}": name for name, (_, port, _, _) in SERVICES.items()}
    mounts = _services()["prometheus"]["volumes"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts


def _exported_metric_names() -> set[str]:
    names: set[str] = set()
    pattern = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"(venom_\w+)\"")
    for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "libs").rglob("*.py")]:
        for kind, name in pattern.findall(path.read_text(errors="replace")):
            names.add(name + "_total" if kind == "Counter" and not name.endswith("_total") else name)
            if kind == "Histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


def test_grafana_dashboard_uses_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "venom.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bvenom_\w+", e)}
    exported = _exported_metric_names()
    assert used - exported <= PENDING_METRICS, used - exported - PENDING_METRICS
    titles = {p["title"] for p in dashboard["panels"]}
    for needed in ("Beats/s", "Beat latency", "Decisions by action", "θ per node", "Ledger size",
                   "Ledger append rate", "Dispatch rate", "Peer load"):
        assert needed in titles
    datasources = load_yaml(ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "venom.yml")
    uids = {d["uid"] for d in datasources["datasources"]}
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} <= uids
    provider = load_yaml(ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "venom.yml")
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in _services()["grafana"]["volumes"]


def test_docker_compose_config_when_available(tmp_path: Path) -> None:
    """With the compose plugin installed, compose itself parses the file (with the example env)."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker compose is not installed")
    out = subprocess.run([docker, "compose", "--env-file", str(ROOT / "deploy" / "venom.env.example"),
                          "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_env_example_holds_placeholders_only() -> None:
    for line in (ROOT / "deploy" / "venom.env.example").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if key in SECRETS - {"VENOM_NATS_USER"}:
            assert value.startswith(("change-me", "replace-with")), f"{key} must be an obvious placeholder"


def test_deploy_doc_covers_the_issue() -> None:
    doc = (ROOT / "docs" / "DEPLOY.md").read_text()
    for heading in ("## 1. One machine with Docker Compose", "## 2. Kubernetes", "## 3. Bare metal with systemd",
                    "## Growing past one machine", "### A beat's trace in Jaeger", "### The dashboard in Grafana",
                    "### Events with the NATS CLI"):
        assert heading in doc
    assert "sub 'venom.>'" in doc and "docker compose --env-file deploy/venom.env up" in doc
    for path in re.findall(r"`((?:deploy|k8s|services|docs)/[\w./@-]+)`", doc):
        if "<" not in path and "*" not in path and path != "deploy/venom.env":  # the one file you create
            assert (ROOT / path).exists(), path
    assert "[docs/DEPLOY.md](docs/DEPLOY.md)" in (ROOT / "README.md").read_text()
