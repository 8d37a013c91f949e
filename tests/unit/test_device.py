"""Device and core selection off Linux: macOS has no os.sched_getaffinity, and Apple's GPU is torch's mps backend.
The missing function and the backend are faked, so this runs on any CI machine."""

import os

import pytest
import torch

from fwilab.device import available_cores, resolve_device
from fwilab.errors import ConfigError


def test_cores_come_from_the_affinity_mask_where_the_os_keeps_one(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert available_cores() == 2


def test_cores_fall_back_to_the_machines_count_without_sched_getaffinity(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert available_cores() == 8
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # "cannot tell" is one core, not a crash
    assert available_cores() == 1


@pytest.fixture
def apple_gpu(monkeypatch):
    """A machine with Apple's GPU and no CUDA, as torch reports it on a recent Mac."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


def test_auto_picks_apples_gpu_where_torch_has_it(apple_gpu):
    assert resolve_device("auto") == torch.device("mps")
    assert resolve_device("mps") == torch.device("mps")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_prefers_cuda_and_falls_back_to_the_cpu(monkeypatch, apple_gpu):
    assert resolve_device("auto", allow_mps=False) == torch.device("cpu")  # e.g. deepwave has no MPS kernels
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize(
    "device, mps, message",
    [
        ("mps", False, "device='mps' was asked for but Apple's GPU (MPS) is not available"),
        ("metal", True, "device='metal' is not one of auto, cpu, cuda, mps"),
        ("cuda", True, "device='cuda' was asked for but no CUDA GPU is available"),
    ],
)
def test_a_device_that_is_not_there_is_one_config_error(monkeypatch, device, mps, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_device(device)
