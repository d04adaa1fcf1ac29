"""The hardware profile scanner (F-HW-1): what this host is, read once at start and on request.

Cores, architecture, CPU vendor/model/frequency, memory and swap, GPUs, platform,
virtualisation, Docker and Kubernetes, thermal sensor and battery presence, and the
derived N, Λ, P (``domain/capacity.py``). The parsers of command output and system
files are pure functions (tested with fixed text); :class:`ProfileScanner` does the I/O.

GPUs: ``nvidia-smi`` and ``rocm-smi`` when on PATH; when neither found one and torch is
installed (and ``probe_torch`` is on), ``torch.cuda`` — imported here, lazily, never on
the sampling path. Apple Metal and OpenCL devices are not probed (reported as no GPU).

Virtualisation (the hypervisor; containers are the Docker/Kubernetes fields):
``systemd-detect-virt --vm`` when present, else the DMI vendor/product names, else the
``hypervisor`` CPU flag. Docker: ``/.dockerenv``, a docker/containerd path in
``/proc/self/cgroup`` / ``/proc/self/mountinfo``, or ``systemd-detect-virt --container``
answering ``docker``. Kubernetes: ``KUBERNETES_SERVICE_HOST``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from venom_common.events.payloads import GpuInfo, HardwareProfileV1
from venom_hardware_agent.adapters.psutil_sampler import has_battery, read_temperatures
from venom_hardware_agent.domain.capacity import MODEL_NAME, derive_capacity
from venom_hardware_agent.domain.thermal import pick_host_temperature

log = logging.getLogger("venom.hardware.profile")

COMMAND_TIMEOUT_S = 5.0
MIB = 1024**2

#: ARM "CPU implementer" codes (Linux /proc/cpuinfo) of the common vendors.
ARM_IMPLEMENTERS = {
    "0x41": "ARM", "0x42": "Broadcom", "0x43": "Cavium", "0x46": "Fujitsu", "0x48": "HiSilicon",
    "0x4e": "NVIDIA", "0x50": "APM", "0x51": "Qualcomm", "0x53": "Samsung", "0x61": "Apple", "0xc0": "Ampere",
}
#: DMI vendor / product substrings that name a hypervisor.
DMI_HYPERVISORS = (
    ("qemu", "qemu"), ("kvm", "kvm"), ("vmware", "vmware"), ("virtualbox", "oracle"), ("innotek", "oracle"),
    ("xen", "xen"), ("microsoft corporation virtual", "microsoft"), ("amazon ec2", "amazon"),
    ("google compute engine", "google"), ("bochs", "bochs"), ("parallels", "parallels"),
)


# --- pure parsers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuInfo:
    vendor: str | None
    model: str | None
    hypervisor_flag: bool


def parse_cpuinfo(text: str) -> CpuInfo:
    """Vendor, model and the ``hypervisor`` flag from Linux ``/proc/cpuinfo`` (x86 or ARM)."""
    fields: dict[str, str] = {}
    flags: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key in ("flags", "features") and value:
            flags.update(value.split())
        fields.setdefault(key, value)
    vendor = fields.get("vendor_id") or ARM_IMPLEMENTERS.get(fields.get("cpu implementer", "").lower())
    model = fields.get("model name") or fields.get("model") or fields.get("hardware") or fields.get("processor")
    if model is not None and model.isdigit():
        model = None  # "processor : 0" / "model : 85" are numbers, not names
    return CpuInfo(vendor=vendor or None, model=model or None, hypervisor_flag="hypervisor" in flags)


def parse_nvidia_smi(output: str) -> list[GpuInfo]:
    """``nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`` (memory in MiB)."""
    gpus = []
    for line in output.splitlines():
        if not line.strip():
            continue
        name, _, mem = line.rpartition(",")
        if not name:
            name, mem = mem, ""
        mem = mem.strip()
        gpus.append(GpuInfo(vendor="NVIDIA", name=name.strip(),
                            memory_bytes=int(float(mem) * MIB) if _is_number(mem) else None, via="nvidia-smi"))
    return gpus


def parse_rocm_smi(output: str) -> list[GpuInfo]:
    """``rocm-smi --showproductname --showmeminfo vram --json``: one entry per ``cardN``."""
    try:
        data = json.loads(output)
    except json.JSONDecodeError:
        return []
    gpus = []
    for card, info in sorted(data.items()) if isinstance(data, dict) else []:
        if not card.lower().startswith("card") or not isinstance(info, dict):
            continue
        name = info.get("Card Series") or info.get("Card series") or info.get("Card model") or card
        mem = info.get("VRAM Total Memory (B)")
        gpus.append(GpuInfo(vendor="AMD", name=str(name), via="rocm-smi",
                            memory_bytes=int(mem) if isinstance(mem, (int, str)) and str(mem).isdigit() else None))
    return gpus


def parse_cpu_max(text: str) -> int | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` (``"<quota> <period>"``; ``max`` = no limit)."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max" or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    quota, period = int(parts[0]), int(parts[1])
    return max(1, math.ceil(quota / period)) if period > 0 else None


def virtualization_from_dmi(sys_vendor: str, product_name: str) -> str | None:
    both = f"{sys_vendor} {product_name}".lower()
    for needle, name in DMI_HYPERVISORS:
        if needle in both:
            return name
    return None


def docker_from(dockerenv_exists: bool, cgroup_text: str, mountinfo_text: str) -> bool:
    if dockerenv_exists:
        return True
    markers = ("/docker/", "/docker-", "docker.service", "/containerd/")
    return any(m in cgroup_text for m in markers) or "/docker/containers/" in mountinfo_text


def kubernetes_from(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("KUBERNETES_SERVICE_HOST"))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- I/O -----------------------------------------------------------------------------------------


def _run(cmd: list[str]) -> tuple[int, str] | None:
    """Run a probe command; None when it is not installed or does not answer in time."""
    exe = shutil.which(cmd[0])
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("%s failed: %s", cmd[0], exc)
        return None
    return done.returncode, done.stdout


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


class ProfileScanner:
    def __init__(self, *, probe_torch: bool = True, environ: Mapping[str, str] | None = None) -> None:
        self.probe_torch = probe_torch
        self.environ = environ if environ is not None else os.environ

    def scan(self, node: str) -> HardwareProfileV1:
        logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
        physical = psutil.cpu_count(logical=False)
        usable = self.cpus_usable()
        vm = psutil.virtual_memory()
        swap = psutil.swap_memory()
        gpus = self.gpus()
        cpu = self.cpu_info()
        freq_now, freq_max = self.cpu_freq()
        capacity = derive_capacity(logical, int(vm.total), cpus_usable=usable, gpu_count=len(gpus))
        return HardwareProfileV1(
            node=node,
            scanned_at=datetime.now(UTC),
            cores_physical=physical or None,
            cores_logical=logical,
            cpus_usable=usable,
            arch=platform.machine() or "unknown",
            cpu_vendor=cpu.vendor,
            cpu_model=cpu.model,
            cpu_freq_mhz=freq_now,
            cpu_freq_max_mhz=freq_max,
            hyperthreading=(logical > physical) if physical else None,
            mem_total_bytes=int(vm.total),
            swap_total_bytes=int(swap.total),
            gpus=gpus,
            platform=sys.platform,
            platform_release=platform.release(),
            python=platform.python_version(),
            virtualization=self.virtualization(cpu),
            in_docker=self.in_docker(),
            in_kubernetes=kubernetes_from(self.environ),
            thermal_sensor=pick_host_temperature(read_temperatures()) is not None,
            battery=has_battery(),
            workers_n=capacity.workers_n,
            lambda_wrap=capacity.lambda_wrap,
            parallel_fraction=capacity.parallel_fraction,
            capacity_model=MODEL_NAME,
        )

    # --- parts ---

    @staticmethod
    def cpus_usable() -> int | None:
        counts = []
        if hasattr(os, "sched_getaffinity"):
            counts.append(len(os.sched_getaffinity(0)))
        quota = parse_cpu_max(_read("/sys/fs/cgroup/cpu.max"))
        if quota is not None:
            counts.append(quota)
        return min(counts) if counts else None

    @staticmethod
    def cpu_info() -> CpuInfo:
        if sys.platform.startswith("linux"):
            info = parse_cpuinfo(_read("/proc/cpuinfo"))
            if info.vendor or info.model:
                return info
        if sys.platform == "darwin":
            out = _run(["sysctl", "-n", "machdep.cpu.brand_string"])
            model = out[1].strip() if out and out[0] == 0 else None
            vendor = "Apple" if platform.machine() == "arm64" else ("Intel" if model and "Intel" in model else None)
            return CpuInfo(vendor=vendor, model=model or None, hypervisor_flag=False)
        return CpuInfo(vendor=None, model=platform.processor() or None, hypervisor_flag=False)

    @staticmethod
    def cpu_freq() -> tuple[float | None, float | None]:
        try:
            freq = psutil.cpu_freq()
        except (OSError, NotImplementedError, FileNotFoundError):
            return None, None
        if freq is None:
            return None, None
        return (float(freq.current) or None), (float(freq.max) or None)

    def gpus(self) -> list[GpuInfo]:
        found: list[GpuInfo] = []
        out = _run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"])
        if out and out[0] == 0:
            found += parse_nvidia_smi(out[1])
        out = _run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"])
        if out and out[0] == 0:
            found += parse_rocm_smi(out[1])
        if not found and self.probe_torch and importlib.util.find_spec("torch") is not None:
            found += self.torch_gpus()
        return found

    @staticmethod
    def torch_gpus() -> list[GpuInfo]:
        """GPUs torch sees (CUDA or ROCm builds). Imported here only: heavy, and never on the sampling path."""
        try:
            import torch  # noqa: PLC0415 - deliberately lazy (F-HW-1)

            if not torch.cuda.is_available():
                return []
            vendor = "AMD" if getattr(torch.version, "hip", None) else "NVIDIA"
            gpus = []
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                gpus.append(GpuInfo(vendor=vendor, name=str(props.name), memory_bytes=int(props.total_memory),
                                    via="torch.cuda"))
            return gpus
        except Exception as exc:  # noqa: BLE001 - a broken torch install must not break the scan
            log.warning("torch.cuda probe failed: %s", exc)
            return []

    @staticmethod
    def in_docker() -> bool:
        if docker_from(Path("/.dockerenv").exists(), _read("/proc/self/cgroup"), _read("/proc/self/mountinfo")):
            return True
        out = _run(["systemd-detect-virt", "--container"])
        return out is not None and out[1].strip() == "docker"

    @staticmethod
    def virtualization(cpu: CpuInfo) -> str | None:
        # --vm: the hypervisor only; a container is reported by in_docker / in_kubernetes.
        out = _run(["systemd-detect-virt", "--vm"])
        if out is not None:
            answer = out[1].strip()
            # exit status 1 and "none" mean bare metal; other failures fall through to the files.
            if answer == "none":
                return None
            if out[0] == 0 and answer:
                return answer
        dmi = virtualization_from_dmi(_read("/sys/class/dmi/id/sys_vendor"), _read("/sys/class/dmi/id/product_name"))
        if dmi is not None:
            return dmi
        return "unknown-hypervisor" if cpu.hypervisor_flag else None
