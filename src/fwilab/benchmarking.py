"""Throughput measurements written as JSON: model training steps and synthetic-data generation.

Training throughput times full optimizer steps (forward, loss, backward, AdamW update) on random
batches of the OpenFWI input shape, so it measures the model and optimizer, not the data path.
"""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from fwilab.data.synthetic.forward import simulate_shot_gathers
from fwilab.data.synthetic.velocity import velocity_models
from fwilab.device import resolve_device
from fwilab.training.losses import WeightedL1L2


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_throughput(model_cfg: DictConfig, batch_size: int, steps: int, warmup_steps: int, device: torch.device) -> dict[str, Any]:
    """Samples per second of AdamW training steps for the model ``model_cfg`` describes."""
    torch.manual_seed(0)
    model = instantiate(model_cfg).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    criterion = WeightedL1L2()
    inputs = torch.randn(batch_size, 5, 1000, 70, device=device)
    target = torch.rand(batch_size, 1, 70, 70, device=device) * 2 - 1
    for step in range(warmup_steps + steps):
        if step == warmup_steps:
            _synchronize(device)
            started = time.perf_counter()
        loss = criterion(model(inputs), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _synchronize(device)
    seconds = time.perf_counter() - started
    return {
        "model": type(model).__name__,
        "config": {k: v for k, v in model_cfg.items() if k != "_target_"},
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": batch_size,
        "steps": steps,
        "seconds": seconds,
        "samples_per_s": steps * batch_size / seconds,
    }


def generation_throughput(family: str, n_models: int, batch_size: int, device: torch.device) -> dict[str, Any]:
    """Velocity models per second through the deepwave forward model (5 shots each)."""
    velocity = torch.from_numpy(velocity_models(np.random.default_rng(0), family, n_models))
    simulate_shot_gathers(velocity[:1].to(device))
    _synchronize(device)
    started = time.perf_counter()
    for start in range(0, n_models, batch_size):
        simulate_shot_gathers(velocity[start : start + batch_size].to(device)).cpu()
    _synchronize(device)
    seconds = time.perf_counter() - started
    return {"family": family, "n_models": n_models, "batch_size": batch_size, "seconds": seconds, "models_per_s": n_models / seconds}


def run_benchmarks(cfg: DictConfig) -> dict[str, Any]:
    """Every measurement ``cfg`` asks for, with the machine it ran on."""
    device = resolve_device(cfg.device)
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "training": [
            training_throughput(model_cfg, cfg.batch_size, cfg.steps, cfg.warmup_steps, device) for model_cfg in cfg.models.values()
        ],
        "generation": generation_throughput(cfg.generation.family, cfg.generation.n_models, cfg.generation.batch_size, device),
    }


def markdown_table(result: dict[str, Any]) -> str:
    """The measurements as a markdown table."""
    lines = [f"device: {result['device']} ({result['device_name']}), torch {result['torch']}, {result['threads']} threads", ""]
    lines += ["| what | parameters | batch | samples/s |", "| --- | ---: | ---: | ---: |"]
    for row in result["training"]:
        lines.append(f"| train {row['model']} {row['config']} | {row['parameters']:,} | {row['batch_size']} | {row['samples_per_s']:.2f} |")
    gen = result["generation"]
    lines.append(f"| generate {gen['family']} (models/s) | | {gen['batch_size']} | {gen['models_per_s']:.2f} |")
    return "\n".join(lines)
