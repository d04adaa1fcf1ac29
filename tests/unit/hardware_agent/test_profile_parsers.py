"""The profile scanner's parsers (F-HW-1), with fixed text; and one real scan of this machine."""

from __future__ import annotations

import json

import pytest

from venom_hardware_agent.adapters.profile_scanner import (
    ProfileScanner,
    docker_from,
    kubernetes_from,
    parse_cpu_max,
    parse_cpuinfo,
    parse_nvidia_smi,
    parse_rocm_smi,
    virtualization_from_dmi,
)

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
flags\t\t: fpu vme de pse hypervisor avx2
"""
PI4 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU part\t: 0xd08
Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def test_parse_cpuinfo_x86_and_arm() -> None:
    x86 = parse_cpuinfo(X86)
    assert x86.vendor == "GenuineIntel" and x86.model.startswith("Intel(R) Xeon(R) Gold")  # type: ignore[union-attr]
    assert x86.hypervisor_flag is True
    pi = parse_cpuinfo(PI4)
    assert pi.vendor == "ARM" and pi.model == "Raspberry Pi 4 Model B Rev 1.4" and pi.hypervisor_flag is False


def test_parse_nvidia_smi() -> None:
    gpus = parse_nvidia_smi("NVIDIA A100-SXM4-40GB, 40960\nNVIDIA GeForce RTX 3090, [N/A]\n\n")
    assert [(g.name, g.memory_bytes, g.vendor, g.via) for g in gpus] == [
        ("NVIDIA A100-SXM4-40GB", 40960 * 2**20, "NVIDIA", "nvidia-smi"),
        ("NVIDIA GeForce RTX 3090", None, "NVIDIA", "nvidia-smi"),
    ]


def test_parse_rocm_smi() -> None:
    out = json.dumps({"card0": {"Card Series": "Instinct MI210", "VRAM Total Memory (B)": "68702699520"},
                      "system": {"Driver version": "6.1"}})
    gpus = parse_rocm_smi(out)
    assert [(g.name, g.memory_bytes, g.vendor) for g in gpus] == [("Instinct MI210", 68702699520, "AMD")]
    assert parse_rocm_smi("not json") == []


def test_cgroup_cpu_limit_virtualisation_docker_kubernetes() -> None:
    assert parse_cpu_max("max 100000\n") is None
    assert parse_cpu_max("150000 100000\n") == 2
    assert parse_cpu_max("") is None
    assert virtualization_from_dmi("QEMU", "Standard PC (Q35 + ICH9, 2009)") == "qemu"
    assert virtualization_from_dmi("Dell Inc.", "PowerEdge R740") is None
    assert docker_from(True, "", "") is True
    assert docker_from(False, "0::/system.slice/docker-abc.scope\n", "") is True
    assert docker_from(False, "0::/\n", "") is False
    assert kubernetes_from({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) is True
    assert kubernetes_from({}) is False


def test_real_scan_of_this_machine() -> None:
    profile = ProfileScanner(probe_torch=False, environ={}).scan("n1")
    assert profile.cores_logical >= 1 and profile.mem_total_bytes > 0
    assert profile.in_kubernetes is False
    assert 10 <= profile.lambda_wrap <= 832 and 0.5 <= profile.parallel_fraction <= 0.95
    assert profile.workers_n == (profile.cpus_usable or profile.cores_logical)


def test_torch_probe_only_in_the_scan_and_honest_without_cuda() -> None:
    torch = pytest.importorskip("torch")
    gpus = ProfileScanner.torch_gpus()
    if not torch.cuda.is_available():
        assert gpus == []
    else:
        assert gpus and all(g.via == "torch.cuda" for g in gpus)
