"""The fast-path switches on CPU (CI has no GPU): resident data, bf16/fp16 autocast, channels_last, compile."""

import pytest
import torch

from fwilab.errors import ConfigError
from fwilab.training.batches import TrainBatch, prefetch_to_device
from fwilab.training.fast_path import resolve_fast_path
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import tiny_train_config, train_as_the_command_does

# fp32 pinned: these runs are compared with each other, bit for bit or to rounding (auto may pick bf16 on this CPU)
FAST = ["trainer.precision=fp32", "trainer.max_steps=6", "logger=none", "diagnostics=off", "trainer.log_every_steps=1"]


def _weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


@pytest.fixture(scope="module")
def plain_run(tiny_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("plain")
    return run_dir, train(check_train(tiny_train_config(tiny_dataset, *FAST)), run_dir)


def _fake_cpu(monkeypatch, avx512_bf16: bool, amx: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)


@pytest.mark.parametrize(
    "avx512_bf16, amx, precision, choice",
    [
        (False, False, "fp32", "auto: fp32 (this CPU would emulate bf16: no AVX512-BF16 or AMX)"),
        (True, False, "fp32", "auto: fp32 (this CPU computes bf16 natively (AVX512-BF16): trainer.precision=bf16"),
        (True, True, "fp32", "auto: fp32 (this CPU computes bf16 natively (AMX): trainer.precision=bf16"),
    ],
)
def test_auto_on_cpu_is_eager_fp32_and_names_a_native_bf16_feature(
    tiny_dataset, monkeypatch, avx512_bf16, amx, precision, choice
):
    from fwilab.data.build import build_data

    settings = check_train(tiny_train_config(tiny_dataset))
    _fake_cpu(monkeypatch, avx512_bf16, amx)
    train_set = build_data(settings.data).train
    fast = resolve_fast_path(settings.trainer, torch.device("cpu"), train_set)
    assert fast.precision_choice.startswith(choice)
    assert (
        fast.precision,
        fast.channels_last,
        fast.compile,
        fast.data_on_device,
        fast.storage_dtype,
        fast.loader_workers,
    ) == (precision, False, False, False, "float32", 0)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")  # a torch without the check: nothing is assumed
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert resolve_fast_path(settings.trainer, torch.device("cpu"), train_set).precision == "fp32"


def test_the_start_line_shows_the_precision_and_why(tiny_dataset, tmp_path, monkeypatch, caplog):
    _fake_cpu(monkeypatch, True, False)
    with caplog.at_level("INFO", logger="fwilab"):
        record = train(check_train(tiny_train_config(tiny_dataset, *FAST[1:4], "trainer.max_steps=2")), tmp_path)
    assert record["status"] == "completed"
    [start] = [r.getMessage() for r in caplog.records if "parameters) on cpu" in r.getMessage()]
    assert (
        "precision='fp32'" in start
        and "precision_choice='auto: fp32 (this CPU computes bf16 natively (AVX512-BF16)" in start
    )


@pytest.mark.parametrize(
    "key, value",
    [("precision", "fp8"), ("channels_last", "yes"), ("device_data_dtype", "int8"), ("num_workers", "many")],
)
def test_bad_switch_values_are_named(tiny_dataset, tmp_path, key, value):
    with pytest.raises(ConfigError, match=f"trainer.{key}={value!r}"):
        train_as_the_command_does(tiny_train_config(tiny_dataset, *FAST, f"trainer.{key}={value}"), tmp_path)


def test_prefetch_hands_over_every_batch_in_order_with_the_next_already_read():
    read = []

    def source():
        for k in range(5):
            read.append(k)
            yield k // 2, TrainBatch(torch.full((2, 3), float(k)), torch.full((2, 1), -float(k)), torch.arange(2))

    handed = []
    for epoch, batch in prefetch_to_device(source(), torch.device("cpu")):
        handed.append((epoch, batch.seismic[0, 0].item(), batch.velocity[0, 0].item()))
        assert len(read) == min(len(handed) + 1, 5)  # batch k + 1 is in flight while k is used
    assert handed == [(k // 2, float(k), -float(k)) for k in range(5)]
    assert list(prefetch_to_device(iter([]), torch.device("cpu"))) == []


def test_loader_workers_give_the_same_run(tiny_dataset, plain_run, tmp_path):
    _, plain = plain_run
    run = train(check_train(tiny_train_config(tiny_dataset, *FAST, "trainer.num_workers=2")), tmp_path)
    assert run["train_loss"] == plain["train_loss"] and run["final"] == plain["final"]


def test_resident_split_gives_the_same_run_as_the_loader(tiny_dataset, plain_run, tmp_path):
    _, plain = plain_run
    resident = train(
        check_train(
            tiny_train_config(tiny_dataset, *FAST, "trainer.data_on_device=true", "trainer.device_data_dtype=float32")
        ),
        tmp_path,
    )
    assert resident["train_loss"] == plain["train_loss"] and resident["final"] == plain["final"]
    ours, theirs = _weights(tmp_path)["model"], _weights(plain_run[0])["model"]
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_resident_bf16_storage_stays_close(tiny_dataset, plain_run, tmp_path):
    _, plain = plain_run
    compact = train(
        check_train(
            tiny_train_config(tiny_dataset, *FAST, "trainer.data_on_device=true", "trainer.device_data_dtype=bfloat16")
        ),
        tmp_path,
    )
    assert compact["train_loss"][0][1] == pytest.approx(plain["train_loss"][0][1], rel=0.01)
    for (_, a), (_, b) in zip(compact["train_loss"], plain["train_loss"]):
        assert a == pytest.approx(b, rel=0.05)


def test_channels_last_matches_contiguous(tiny_dataset, plain_run, tmp_path):
    _, plain = plain_run
    run = train(check_train(tiny_train_config(tiny_dataset, *FAST, "trainer.channels_last=true")), tmp_path)
    # Other convolution kernels: the same first step up to rounding, which later steps amplify.
    assert run["train_loss"][0][1] == pytest.approx(plain["train_loss"][0][1], rel=1e-4)
    for (_, a), (_, b) in zip(run["train_loss"], plain["train_loss"]):
        assert a == pytest.approx(b, rel=0.05)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cpu(tiny_dataset, plain_run, tmp_path, precision):
    _, plain = plain_run
    run = train(check_train(tiny_train_config(tiny_dataset, *FAST, f"trainer.precision={precision}")), tmp_path)
    losses = [loss for _, loss in run["train_loss"]]
    assert run["status"] == "completed" and all(0 < loss < 10 for loss in losses)
    assert losses != [loss for _, loss in plain["train_loss"]]  # autocast really ran
    assert losses[0] == pytest.approx(plain["train_loss"][0][1], rel=0.05)
    scaler = _weights(tmp_path)["scaler"]
    assert bool(scaler) == (precision == "fp16")  # the fp16 gradient scaler's state is checkpointed


def test_compiled_training_forward_matches_eager(tiny_dataset, plain_run, tmp_path):
    _, plain = plain_run
    run = train(
        check_train(
            tiny_train_config(
                tiny_dataset, *FAST, "trainer.compile=true", "diagnostics=default", "diagnostics.every_n_steps=3"
            )
        ),
        tmp_path,
    )
    assert run["train_loss"][0][1] == pytest.approx(plain["train_loss"][0][1], rel=1e-4)
    for (_, a), (_, b) in zip(run["train_loss"], plain["train_loss"]):
        assert a == pytest.approx(b, rel=0.05)  # fused kernels round differently; six steps compound it
    assert sorted(p.name for p in (tmp_path / "activations").glob("step_*")) == [
        "step_000003",
        "step_000004",
        "step_000006",
    ]  # every 3 + validation at 4
    assert not any(k.startswith("_orig_mod") for k in _weights(tmp_path)["model"])


@pytest.mark.slow
def test_resident_memory_does_not_grow_with_the_data_set(tmp_path):
    """A full epoch over 64 vs 640 samples (0.09 vs 0.9 GB on disk): the peak RSS stays put."""
    from fwilab.benchmarking import rss_versus_size

    small, large = rss_versus_size(
        [64, 640], tmp_path, batch_size=16, extra=("model=reconstruction", "model.base_channels=8")
    )
    assert large["data_gb"] - small["data_gb"] > 0.8 and large["steps"] == 40
    assert large["peak_host_rss_gb"] - small["peak_host_rss_gb"] < 0.15, (small, large)
