"""Shared helpers for the offline deployment checks (issue: containers and cluster, F-PLAT-1, -2, -8).

No Docker engine and no cluster run here: the compose file, Dockerfiles, Kubernetes manifests and
systemd units are parsed and checked, rendered with kustomize (``kubectl kustomize`` when present,
else the small renderer below) and validated against the Kubernetes JSON schema
(``kubernetes-validate``, which bundles its schemas, so it works offline).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "k8s"

#: Every VENOM service: compose service name → (package, port, Dockerfile folder, pyproject extra).
#: The ports are the registry's (libs/venom_cli/services.py); test_deploy_compose checks they agree.
SERVICES: dict[str, tuple[str, int, str, str]] = {
    "hardware-agent": ("venom_hardware_agent", 9101, "hardware-agent", "hardware-agent"),
    "arbiter": ("venom_arbiter", 9102, "arbiter", "arbiter"),
    "ledger": ("venom_ledger", 9103, "ledger", "ledger"),
    "mesh-discovery": ("venom_mesh_discovery", 9104, "mesh-discovery", "mesh-discovery"),
    "organ-regen": ("venom_organs", 9111, "organs", "organs"),
    "organ-balance": ("venom_organs", 9112, "organs", "organs"),
    "organ-entropy": ("venom_organs", 9113, "organs", "organs"),
    "organ-optimize": ("venom_organs", 9114, "organs", "organs"),
    "orchestrator": ("venom_orchestrator", 8000, "orchestrator", "orchestrator"),
}
SERVICE_DIRS = sorted({v[2] for v in SERVICES.values()})

#: Seed 001 "Kubernetes Deployment" (F-PLAT-2).
SEED_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# ---------------------------------------------------------------- kustomize


class KustomizeError(RuntimeError):
    pass


def render_with_kubectl(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        argv = [kubectl, "kustomize", str(directory)]
    elif (kustomize := shutil.which("kustomize")) is not None:
        argv = [kustomize, "build", str(directory)]
    else:
        raise FileNotFoundError("neither kubectl nor kustomize is installed")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise KustomizeError(out.stderr)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge, as far as these manifests use it: maps merge key by key, lists of named
    items (containers, env, ports, volumes) merge by name, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (isinstance(base, list) and isinstance(patch, list) and patch
            and all(isinstance(i, dict) and "name" in i for i in base + patch)):
        out = [copy.deepcopy(i) for i in base]
        names = [i["name"] for i in out]
        for item in patch:
            if item["name"] in names:
                idx = names.index(item["name"])
                out[idx] = _merge(out[idx], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _same_target(doc: dict[str, Any], patch: dict[str, Any]) -> bool:
    return doc.get("kind") == patch.get("kind") and doc["metadata"]["name"] == patch["metadata"]["name"]


def render_with_parser(directory: Path) -> list[dict[str, Any]]:
    """A small kustomize: resources (files or kustomization folders), namespace, labels (metadata
    only), images, and strategic-merge patches by path (``$patch: delete`` included) — exactly the
    features k8s/ uses. Anything else is refused rather than ignored."""
    kfile = directory / "kustomization.yaml"
    kust = load_yaml(kfile)
    known = {"apiVersion", "kind", "namespace", "labels", "resources", "images", "patches"}
    unknown = set(kust) - known
    if unknown:
        raise KustomizeError(f"{kfile}: the fallback renderer does not support {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for entry in kust.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs += render_with_parser(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch_ref in kust.get("patches", []):
        if set(patch_ref) != {"path"}:
            raise KustomizeError(f"{kfile}: only `patches: - path:` is supported, got {patch_ref}")
        patch = load_yaml(directory / patch_ref["path"])
        targets = [d for d in docs if _same_target(d, patch)]
        if not targets:
            raise KustomizeError(f"{kfile}: patch {patch_ref['path']} matches no resource")
        if patch.get("$patch") == "delete":
            docs = [d for d in docs if not _same_target(d, patch)]
            continue
        docs = [_merge(d, patch) if _same_target(d, patch) else d for d in docs]
    for group in kust.get("labels", []):
        if group.get("includeSelectors") or group.get("includeTemplates"):
            raise KustomizeError("labels with includeSelectors/includeTemplates are not supported")
        for d in docs:
            d.setdefault("metadata", {}).setdefault("labels", {}).update(group["pairs"])
    for image in kust.get("images", []):
        for d in docs:
            spec = d.get("spec", {}).get("template", {}).get("spec", {})
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                name, _, tag = c["image"].partition(":")
                if name == image["name"]:
                    c["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    if "namespace" in kust:
        for d in docs:
            if d["kind"] != "Namespace":
                d["metadata"]["namespace"] = kust["namespace"]
    return docs


def render(directory: Path) -> list[dict[str, Any]]:
    try:
        return render_with_kubectl(directory)
    except FileNotFoundError:
        return render_with_parser(directory)


@dataclass(frozen=True)
class Rendered:
    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
        return found[0]

    def workloads(self) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] in ("Deployment", "DaemonSet", "StatefulSet")]
