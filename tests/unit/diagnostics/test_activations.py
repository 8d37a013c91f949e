"""Activation capture: selection, bounded snapshots, no effect on training, hooks removed on close."""

import csv
import threading
from functools import partial

import pytest
import torch
from omegaconf import OmegaConf

from fwilab.data.transforms import Normalizer
from fwilab.diagnostics.activations import ActivationRecorder, select_layers, unwrap
from fwilab.diagnostics.snapshots import ActivationSnapshots
from fwilab.errors import ConfigError
from fwilab.models import ConvBlock, DeconvBlock, InversionNet, ReconstructionNet
from fwilab.tracking import BackgroundLogger, RunLogger
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import ROOT, tiny_train_config

INVERSIONNET_BLOCKS = [
    "convblock1",
    "convblock2_1",
    "convblock2_2",
    "convblock3_1",
    "convblock3_2",
    "convblock4_1",
    "convblock4_2",
    "convblock5_1",
    "convblock5_2",
    "convblock6_1",
    "convblock6_2",
    "convblock7_1",
    "convblock7_2",
    "convblock8",
    "deconv1_1",
    "deconv1_2",
    "deconv2_1",
    "deconv2_2",
    "deconv3_1",
    "deconv3_2",
    "deconv4_1",
    "deconv4_2",
    "deconv5_1",
    "deconv5_2",
    "deconv6",
]


@pytest.fixture(scope="module")
def small_net() -> ReconstructionNet:
    torch.manual_seed(0)
    return ReconstructionNet(base_channels=8)


def test_default_selection_is_every_block_by_module_path():
    assert list(select_layers(InversionNet())) == INVERSIONNET_BLOCKS


def test_selection_by_pattern_and_type(small_net):
    assert list(select_layers(InversionNet(), types=(), patterns=["deconv5_*"])) == ["deconv5_1", "deconv5_2"]
    assert list(select_layers(small_net, types=(), patterns=["enc.*"])) == [f"enc.{i}" for i in range(8)]
    assert "dec.1.layers.0" in select_layers(small_net, types=(), patterns=["dec.**"])
    assert list(select_layers(small_net, types=(DeconvBlock,))) == [f"dec.{i}" for i in (0, 2, 4, 6, 8)]
    with pytest.raises(ConfigError, match="no module"):
        ActivationRecorder(small_net, types=(), patterns=["nothing.*"])


def test_snapshot_is_bounded_detached_and_on_cpu(small_net):
    with ActivationRecorder(small_net, max_samples=2, max_channels=4) as recorder:
        snapshot = recorder.snapshot(torch.randn(5, 5, 1000, 70))
    assert list(snapshot.activations)[:2] == ["enc.0", "enc.1"] and "head" in snapshot.activations
    for tensor in snapshot.activations.values():
        assert tensor.shape[0] == 2 and tensor.shape[1] <= 4 and tensor.device.type == "cpu"
        assert not tensor.requires_grad and tensor.dtype == torch.float32
    assert snapshot.activations["enc.0"].shape == (2, 4, 500, 70)
    assert snapshot.prediction.shape == (2, 1, 70, 70)


def test_hooks_idle_between_snapshots_and_removed_on_close(small_net):
    recorder = ActivationRecorder(small_net)
    small_net(torch.randn(2, 5, 1000, 70))
    assert recorder._store == {}
    recorder.snapshot(torch.randn(2, 5, 1000, 70))
    assert recorder._store == {}  # nothing kept between snapshots: memory stays flat
    hooked = [m for m in small_net.modules() if isinstance(m, (ConvBlock, DeconvBlock))]
    assert all(len(m._forward_hooks) == 1 for m in hooked)
    recorder.close()
    assert all(len(m._forward_hooks) == 0 for m in hooked)
    recorder.close()


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_snapshot_leaves_mode_and_batchnorm_statistics_alone(small_net, mode):
    small_net.train()
    before = {k: v.clone() for k, v in small_net.state_dict().items()}
    with ActivationRecorder(small_net) as recorder:
        snapshot = recorder.snapshot(torch.randn(2, 5, 1000, 70) * 3 + 1, mode=mode)
    assert small_net.training
    assert all(torch.equal(before[k], v) for k, v in small_net.state_dict().items())
    assert len(snapshot.activations) == 19  # 8 encoder + 10 decoder blocks + head


def test_train_and_eval_snapshots_differ(small_net):
    inputs = torch.randn(2, 5, 1000, 70)
    with ActivationRecorder(small_net, patterns=["enc.0"], types=()) as recorder:
        train_mode = recorder.snapshot(inputs, mode="train").activations["enc.0"]
        eval_mode = recorder.snapshot(inputs, mode="eval").activations["enc.0"]
    assert not torch.allclose(train_mode, eval_mode)


def test_snapshot_under_autocast_returns_float32(small_net):
    with ActivationRecorder(small_net) as recorder, torch.autocast("cpu", dtype=torch.bfloat16):
        snapshot = recorder.snapshot(torch.randn(2, 5, 1000, 70))
    assert all(t.dtype == torch.float32 for t in snapshot.activations.values())


def test_recorder_hooks_the_plain_module_under_compile(small_net):
    compiled = torch.compile(small_net)
    assert unwrap(compiled) is small_net
    with ActivationRecorder(compiled, patterns=["head"], types=()) as recorder:
        assert recorder.model is small_net and list(recorder.layers) == ["head"]


def test_snapshots_do_not_change_training(tiny_dataset, tmp_path):
    """Same seed, snapshots every step vs none: identical loss curve and identical weights."""
    common = ["trainer.max_steps=6", "logger=none", "trainer.precision=fp32"]  # compared bit for bit
    with_snapshots = train(
        check_train(tiny_train_config(tiny_dataset, *common, "diagnostics.every_n_steps=1")), tmp_path / "on"
    )
    without = train(check_train(tiny_train_config(tiny_dataset, *common, "diagnostics=off")), tmp_path / "off")
    assert with_snapshots["train_loss"] == without["train_loss"]
    assert with_snapshots["final"] == {**without["final"]}
    on = torch.load(tmp_path / "on" / "checkpoints" / "last.pt", weights_only=True)["model"]
    off = torch.load(tmp_path / "off" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(on[k], off[k]) for k in on)
    assert len(list((tmp_path / "on" / "activations").glob("step_*"))) == 6
    with (tmp_path / "on" / "activations" / "statistics.csv").open() as handle:
        table = list(csv.DictReader(handle))
    steps = {
        statistic: sorted({int(row["step"]) for row in table if row["statistic"] == statistic})
        for statistic in ("effective_rank", "cka_previous")
    }
    assert steps == {"effective_rank": [1, 2, 3, 4, 5, 6], "cka_previous": [2, 3, 4, 5, 6]}
    assert {row["layer"] for row in table} == set(select_layers(ReconstructionNet()))
    assert [step for step, _ in with_snapshots["snapshot_blocked_s"]] == [1, 2, 3, 4, 5, 6]
    assert not (tmp_path / "off" / "activations").exists()


class CallRecordingLogger(RunLogger):
    def __init__(self):
        self.calls = []

    def log_metrics(self, metrics, step):
        self.calls.append(("metrics", step, threading.current_thread().name))

    def log_images(self, images, step):
        assert "velocity/sample0" in images
        self.calls.append(("images", step, threading.current_thread().name))

    def finish(self, status):
        self.calls.append(("finish", status, threading.current_thread().name))


def test_snapshots_render_and_log_on_the_worker_in_call_order(small_net, caplog):
    gate = threading.Event()
    cfg = OmegaConf.merge(
        OmegaConf.load(ROOT / "conf" / "diagnostics" / "default.yaml"),
        {"types": ["fwilab.models.ConvBlock"]},
    )
    snapshots = ActivationSnapshots(
        small_net, torch.randn(2, 5, 1000, 70), torch.full((2, 1, 70, 70), 3000.0), Normalizer(-26.48, 52.32), cfg
    )

    def held_pictures(snapshot, step):
        assert gate.wait(30)
        return snapshots.review(snapshot, step)

    inner = CallRecordingLogger()
    logger = BackgroundLogger(inner)
    logger.log_metrics({"val/mae": 0.3}, 10)
    logger.log_rendered(partial(held_pictures, snapshots.capture(), 10), 10)  # returns while the rendering is held
    logger.log_rendered(lambda: 1 / 0, 15)  # a broken picture is warned about, not raised
    logger.log_metrics({"train/loss": 0.5}, 20)
    assert ("metrics", 20) not in [call[:2] for call in inner.calls]  # queued behind the held picture
    gate.set()
    logger.finish("completed")
    assert [call[:2] for call in inner.calls] == [
        ("metrics", 10),
        ("images", 10),
        ("metrics", 10),  # the snapshot's per-layer numbers, right after its pictures
        ("metrics", 20),
        ("finish", "completed"),
    ]
    assert all(call[2].startswith("fwilab-log") for call in inner.calls)
    assert "rendering the snapshot of step 15 failed (ZeroDivisionError" in caplog.text
    snapshots.close()
