"""The yardstick: an OpenFWI-style training loop (DataLoader workers with per-sample numpy transforms, fp32,
``loss.item()`` every step)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from fwilab.benchmarking.measure import synchronize
from fwilab.data_contract import VELOCITY_RANGE
from fwilab.models.build import build_model
from fwilab.training.losses import WeightedL1L2


class NumpyTransformDataset(Dataset):
    """OpenFWI's data path: every sample log-transformed and min-max scaled in numpy, in the workers."""

    def __init__(self, root: Path, data_min: float, data_max: float):
        self.seismic = np.load(root / "data" / "data1.npy", mmap_mode="r")
        self.velocity = np.load(root / "model" / "model1.npy", mmap_mode="r")
        self.low, self.high = (math.copysign(math.log1p(abs(v)), v) for v in (data_min, data_max))

    def __len__(self) -> int:
        return len(self.seismic)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.log1p(np.abs(self.seismic[index])) * np.sign(self.seismic[index])
        x = ((x - self.low) / (self.high - self.low) * 2 - 1).astype(np.float32)
        low, high = VELOCITY_RANGE
        v = ((self.velocity[index] - low) / (high - low) * 2 - 1).astype(np.float32)
        return x, v


def reference_throughput(
    root: Path, train_cfg: DictConfig, batch_size: int, steps: int, warmup: int, workers: int, device: torch.device
) -> dict[str, Any]:
    """Samples/s of the OpenFWI-style loop on ``train_cfg``'s model, normalized with its data's constants."""
    torch.manual_seed(0)
    model = build_model(train_cfg.model).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    criterion = WeightedL1L2()
    loader = DataLoader(
        NumpyTransformDataset(root, train_cfg.data.data_min, train_cfg.data.data_max),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    done, started = 0, None
    while done < warmup + steps:
        for x, v in loader:
            if done == warmup:
                synchronize(device)
                started = time.perf_counter()
            loss = criterion(model(x.to(device)), v.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # OpenFWI's metric logger reads the loss every step
            done += 1
            if done == warmup + steps:
                break
    synchronize(device)
    return {"samples_per_s": steps * batch_size / (time.perf_counter() - started)}
