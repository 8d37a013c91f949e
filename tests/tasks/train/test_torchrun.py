"""Data parallelism: the sampler splits global batches exactly; torchrun with 2 CPU processes (gloo)
matches one process with the same global batch."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import ROOT


def _args(data_root: Path, run_dir: Path) -> list[str]:
    data = ["data=curvefault_a", f"data.root={data_root}", "data.train_split=train.txt", "data.val_split=val.txt"]
    model = ["model=reconstruction", "model.base_channels=8", "trainer.device=cpu", "trainer.max_steps=6"]
    model.append("trainer.precision=fp32")  # compared with one process to rounding: auto may pick bf16 on this CPU
    optimizer = ["optimizer=adam", "+optimizer.eps=1.0", "lr=0.05", "weight_decay=0.0", "scheduler=constant"]
    logging = ["trainer.log_every_steps=2", "trainer.val_every_steps=3", "logger=none", "diagnostics.every_n_steps=3"]
    return [*data, *model, *optimizer, *logging, f"hydra.run.dir={run_dir}"]


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


@pytest.fixture(scope="module")
def one_sample_repeated(tiny_dataset, tmp_path_factory) -> Path:
    """A training split of one sample repeated 16 times (validation: the tiny set's 8 distinct samples).

    Every batch then has the same BatchNorm statistics whether it holds 4 samples (a rank) or 8 (one
    process), so a 2-rank run and a 1-process run can only differ by floating-point rounding. The
    runs use Adam with eps=1 (an update proportional to the gradient, like momentum SGD): with a
    small eps Adam turns the rounding noise of gradients that are zero in exact arithmetic (conv
    biases before BatchNorm) into lr-sized steps.
    """
    root = tmp_path_factory.mktemp("repeated")
    (root / "data").mkdir()
    (root / "model").mkdir()
    for folder, prefix in (("data", "data"), ("model", "model")):
        first = np.load(tiny_dataset / folder / f"{prefix}1.npy")[:1]
        np.save(root / folder / f"{prefix}1.npy", np.repeat(first, 16, axis=0))
    (root / "train.txt").write_text("data/data1.npy\tmodel/model1.npy\n")
    (root / "val.txt").write_text(
        (tiny_dataset / "val.txt")
        .read_text()
        .replace("data/", f"{tiny_dataset}/data/")
        .replace("model/", f"{tiny_dataset}/model/")
    )
    return root


def _sha256(weights: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for tensor in weights.values():
        digest.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _truth_panel(image: Path) -> np.ndarray:
    """The ground-truth third of a velocity panel (prediction | truth | error, 70 x 3 pixels each)."""
    pixels = np.asarray(Image.open(image))
    return pixels[16 : 16 + 210, 282 : 282 + 210]


@pytest.fixture(scope="module")
def ddp_and_single(one_sample_repeated, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    ddp = subprocess.run(
        [
            *TORCHRUN,
            str(ROOT / "scripts" / "train.py"),
            "trainer=ddp",
            "trainer.batch_size=4",
            *_args(one_sample_repeated, tmp / "ddp"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            "trainer.batch_size=8",
            *_args(one_sample_repeated, tmp / "single"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr
    return tmp


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(ddp_and_single):
    tmp = ddp_and_single
    parallel = json.loads((tmp / "ddp" / "metrics.json").read_text())
    alone = json.loads((tmp / "single" / "metrics.json").read_text())
    assert parallel["world_size"] == 2 and parallel["batch_size"] == alone["batch_size"] == 8
    weights = torch.load(tmp / "ddp" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert not any(key.startswith("module.") for key in weights)  # saved from the plain module
    assert parallel["weights_sha256"] == _sha256(weights)  # every rank held exactly these bytes at the last checkpoint
    reference = torch.load(tmp / "single" / "checkpoints" / "last.pt", weights_only=True)["model"]
    moved = torch.load(tmp / "single" / "checkpoints" / "step_00000003.pt", weights_only=True)["model"]
    # Left out: running statistics (the variance is unbiased over a rank's 4 samples vs 8) and the conv biases that
    # BatchNorm cancels: their gradient is zero in exact arithmetic, so their values are accumulated rounding.
    compared = [
        k for k in weights if weights[k].is_floating_point() and "running" not in k and not k.endswith("layers.0.bias")
    ]
    worst = max((weights[k].double() - reference[k].double()).abs().max().item() for k in compared)
    change = max((reference[k].double() - moved[k].double()).abs().max().item() for k in compared)
    assert worst < 1e-5 and change > 1000 * worst, (worst, change)
    for (step, loss), (same_step, same_loss) in zip(parallel["train_loss"], alone["train_loss"]):
        assert step == same_step and loss == pytest.approx(same_loss, rel=1e-4)
    for key in ("mae", "rmse", "ssim"):
        assert parallel["final"][key] == pytest.approx(alone["final"][key], rel=1e-4)
    assert sorted(p.name for p in (tmp / "ddp" / "activations").glob("step_*")) == ["step_000003", "step_000006"]
    for sample in (0, 1):  # the same probe samples as one process
        name = f"activations/step_000003/velocity_sample{sample}.png"
        assert np.array_equal(_truth_panel(tmp / "ddp" / name), _truth_panel(tmp / "single" / name))
    assert (tmp / "ddp" / "train.log").read_text().count("val MAE") == 2  # rank 0 reports once for everyone


@pytest.mark.slow
def test_ddp_validation_equals_evaluate_on_its_best_checkpoint(ddp_and_single):
    tmp = ddp_and_single
    best = json.loads((tmp / "ddp" / "metrics.json").read_text())["best"]
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "evaluate.py"),
            f"checkpoint={tmp / 'ddp' / 'checkpoints' / 'best.pt'}",
            "device=cpu",
            f"hydra.run.dir={tmp / 'eval'}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    scored = json.loads((tmp / "eval" / "metrics.json").read_text())
    for key in ("mae", "mse", "rmse", "ssim"):
        assert scored[key] == pytest.approx(best[key], abs=1e-6)


@pytest.mark.slow
def test_a_global_batch_larger_than_the_split_is_one_line_per_rank(one_sample_repeated, tmp_path):
    result = subprocess.run(
        [
            *TORCHRUN,
            str(ROOT / "scripts" / "train.py"),
            "trainer=ddp",
            "trainer.batch_size=12",
            *_args(one_sample_repeated, tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    message = "error: trainer.batch_size=12 x 2 process(es) must be at least 2"
    # each rank refuses in one line, but torchrun's agent may stop the second rank before it prints
    assert 1 <= result.stderr.count(message) <= 2 and "ZeroDivisionError" not in result.stderr


@pytest.mark.slow
def test_torchrun_with_a_multirun_is_refused_in_one_line(one_sample_repeated, tmp_path):
    result = subprocess.run(
        [
            *TORCHRUN,
            str(ROOT / "scripts" / "train.py"),
            "-m",
            "trainer=ddp",
            "seed=0,1",
            *_args(one_sample_repeated, tmp_path)[:-1],
            f"hydra.sweep.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    # each rank refuses in one line, but torchrun's agent may stop the second rank before it prints
    assert 1 <= result.stderr.count("error: torchrun with -m would run the whole sweep in every process") <= 2
    assert not list(tmp_path.glob("*/metrics.json")) and not list(tmp_path.glob("*/checkpoints"))


@pytest.mark.slow
def test_torchrun_without_trainer_ddp_is_one_data_parallel_run(one_sample_repeated, tmp_path):
    result = subprocess.run(
        [*TORCHRUN, str(ROOT / "scripts" / "train.py"), "trainer.batch_size=4", *_args(one_sample_repeated, tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "completed" and record["world_size"] == 2 and record["batch_size"] == 8
    assert record["total_steps"] == 6 and [step for step, _ in record["train_loss"]] == [2, 4, 6]
    log = (tmp_path / "train.log").read_text()
    assert log.count("val MAE") == 2 and log.count("batch 4 x 2 process(es)") == 1  # rank 0 writes, once
    assert "distributed: true" in (tmp_path / "config.yaml").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, args, message",
    [
        ("train.py", ["trainer.distributed=false"], "error: WORLD_SIZE=2 (torchrun or SLURM started 2 processes)"),
        ("evaluate.py", ["checkpoint=missing.pt"], "error: evaluate runs in one process, but torchrun started"),
    ],
)
def test_torchrun_is_refused_in_one_line_before_any_work(one_sample_repeated, tmp_path, script, args, message):
    run_args = _args(one_sample_repeated, tmp_path / "run") if script == "train.py" else [f"hydra.run.dir={tmp_path}"]
    result = subprocess.run(
        [*TORCHRUN, str(ROOT / "scripts" / script), *args, *run_args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0 and result.stderr.count(message) == 1  # rank 0's line, not one per rank
    frames = [line for line in result.stderr.splitlines() if line.strip().startswith('File "')]
    assert not [
        frame for frame in frames if "torch/distributed" not in frame and "<frozen" not in frame
    ]  # torchrun's own
    assert not list(tmp_path.rglob("metrics.json")) and not list(tmp_path.rglob("checkpoints"))


@pytest.mark.slow
def test_velocitygan_trains_under_torchrun_with_generator_and_critic_the_same_on_both_ranks(
    one_sample_repeated, tmp_path
):
    """Each rank mixes its own batch's real and predicted maps for the penalty, so two ranks are not one process:
    the test is that the critic's hand-averaged gradients keep it, and DDP the generator, identical on both ranks
    (checked at every validation)."""
    run = subprocess.run(
        [
            *TORCHRUN,
            str(ROOT / "scripts" / "train.py"),
            "trainer=ddp",
            "trainer.batch_size=4",
            "objective=velocitygan",
            "objective.n_critic=2",
            *_args(one_sample_repeated, tmp_path / "gan"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((tmp_path / "gan" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["world_size"] == 2 and metrics["weights_sha256"]
    assert {"critic_loss", "generator_loss"} <= set(metrics["train_losses"])
