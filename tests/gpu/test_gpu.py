"""The GPU path (run on a CUDA machine: `bash scripts/gpu_check.sh`); skipped with the reason on CPU.

Covers what only a GPU executes: the side-stream prefetch against the resident split, fused AdamW
with bf16 autocast, torch.compile against eager, snapshots with compile on, cuDNN's autotuner, and a
preempted-then-resumed run restoring CUDA random state, and deepwave generation on CUDA against CPU.
"""

import json

import pytest
import torch
from omegaconf import open_dict

from fwilab.config.groups import read_data
from fwilab.data.build import build_data
from fwilab.models import InversionNet, ReconstructionNet
from fwilab.training.batches import LoaderBatches, ResidentBatches
from fwilab.training.loop import train
from fwilab.training.sampler import ResumableShuffleSampler
from fwilab.training.train_settings import check_train
from helpers import tiny_train_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none); run `bash scripts/gpu_check.sh` on one"
    ),
]
CUDA = torch.device("cuda")


def gpu_config(data_root, *overrides):
    return tiny_train_config(data_root, "trainer.device=cuda", "logger=none", *overrides)


def test_prefetched_loader_batches_equal_resident_batches_bitwise(tiny_dataset):
    data = build_data(read_data(gpu_config(tiny_dataset).data))
    sampler = ResumableShuffleSampler(len(data.train), batch_size=4, seed=1)
    loader = LoaderBatches(
        data.train, ResumableShuffleSampler(len(data.train), batch_size=4, seed=1), num_workers=2, device=CUDA
    ).after(3)
    resident = ResidentBatches(data.train, sampler, CUDA, "float32").after(3)
    for _ in range(10):  # crosses epochs; a prefetch race would hand over a half-copied batch
        (epoch_a, a), (epoch_b, b) = next(loader), next(resident)
        assert (
            epoch_a == epoch_b
            and a.seismic.is_cuda
            and torch.equal(a.seismic, b.seismic)
            and torch.equal(a.velocity, b.velocity)
            and torch.equal(a.indices.cpu(), b.indices.cpu())
        )


def test_fused_adamw_with_bf16_autocast_lowers_the_loss(tiny_dataset, tmp_path, caplog):
    with caplog.at_level("INFO"):
        record = train(
            check_train(
                gpu_config(tiny_dataset, "trainer.max_steps=24", "lr=2e-3", "trainer.compile=false", "diagnostics=off")
            ),
            tmp_path,
        )
    losses = [loss for _, loss in record["train_loss"]]
    assert record["status"] == "completed" and sum(losses[-3:]) < 0.7 * sum(losses[:3])
    assert (
        "precision='bf16'" in caplog.text and "cudnn_benchmark=True" in caplog.text and torch.backends.cudnn.benchmark
    )


@pytest.mark.parametrize(
    "build", [InversionNet, lambda: ReconstructionNet(base_channels=16)], ids=["InversionNet", "ReconstructionNet"]
)
def test_compiled_model_matches_eager_within_bf16_tolerance(build):
    model = build().to(CUDA).eval()
    x = torch.randn(4, 5, 1000, 70, device=CUDA)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        eager, compiled = model(x).float(), torch.compile(model)(x).float()
    assert (eager - compiled).abs().max().item() < 2e-2  # bf16 keeps 8 bits of mantissa; outputs are in [-1, 1]


def test_snapshots_work_with_compile_on(tiny_dataset, tmp_path):
    record = train(
        check_train(
            gpu_config(tiny_dataset, "trainer.max_steps=4", "trainer.compile=true", "diagnostics.every_n_steps=2")
        ),
        tmp_path,
    )
    assert record["status"] == "completed" and list((tmp_path / "activations" / "step_000002").glob("*_pca_rgb.png"))


def test_preempted_gpu_run_resumes_with_cuda_random_state(tiny_dataset, tmp_path):
    """fp32 eager without the autotuner; cuDNN's backward still sums in a free order, hence a tolerance, not bitwise."""
    overrides = [
        "trainer.max_steps=8",
        "trainer.checkpoint_every_steps=1",
        "trainer.precision=fp32",
        "trainer.compile=false",
        "trainer.cudnn_benchmark=false",
        "diagnostics=off",
    ]
    straight = train(check_train(gpu_config(tiny_dataset, *overrides)), tmp_path / "straight")
    cfg = gpu_config(tiny_dataset, *overrides)
    with open_dict(cfg):
        cfg.loss = {  # SLURM's notice at step 4, once: the resumed run keeps its loss, as a resume must
            "_target_": "helpers.faults.PreemptedOnce",
            **{"call": 4, "signal_name": "SIGUSR1", "marker": str(tmp_path / "preempted")},
            **{"lambda_g1v": 1.0, "lambda_g2v": 1.0},
        }
    assert train(check_train(cfg), tmp_path / "resumed")["status"] == "preempted"
    resumed = train(check_train(cfg), tmp_path / "resumed")
    assert resumed["status"] == straight["status"] == "completed"
    saved = torch.load(tmp_path / "resumed" / "checkpoints" / "step_00000004.pt", weights_only=True)
    assert len(saved["rng"]["cuda"]) == torch.cuda.device_count()
    ours = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)["model"]
    theirs = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)["model"]
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-5)
    assert json.loads((tmp_path / "resumed" / "metrics.json").read_text())["train_loss"] == pytest.approx(
        straight["train_loss"], rel=1e-4
    )


def test_generation_on_the_gpu_matches_the_cpu_gathers():
    """deepwave's CUDA kernels against its CPU ones, through the generator's own path."""
    import numpy as np

    from fwilab.data.synthetic.velocity import velocity_models
    from fwilab.physics.forward import simulate_models

    velocity = velocity_models(np.random.default_rng(0), "curvefault_a", 6)
    on_gpu = simulate_models(velocity, batch_size=4, device=CUDA)
    on_cpu = simulate_models(velocity, batch_size=4, device=torch.device("cpu"))
    assert np.linalg.norm(on_gpu - on_cpu) / np.linalg.norm(on_cpu) < 1e-4
