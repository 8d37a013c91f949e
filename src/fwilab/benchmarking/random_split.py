"""Random OpenFWI-shaped files: correctly shaped and scaled, no physics, so a benchmark needs only torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fwilab.data.openfwi import FilePair, write_split_file
from fwilab.data_contract import SEISMIC_SHAPE, VELOCITY_RANGE, VELOCITY_SHAPE


def write_random_split(root: Path, samples: int, seed: int = 0) -> Path:
    """OpenFWI files of random gathers (amplitudes on OpenFWI's scale) and layered-looking velocities.

    Train and validation list the same file (a benchmark measures training), so its runs set ``data.check=off``."""
    rng = np.random.default_rng(seed)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "model").mkdir(parents=True, exist_ok=True)
    pair = FilePair(root / "data" / "data1.npy", root / "model" / "model1.npy")
    seismic = np.lib.format.open_memmap(pair.seismic, mode="w+", dtype=np.float32, shape=(samples, *SEISMIC_SHAPE))
    for start in range(0, samples, 64):
        count = min(64, samples - start)
        seismic[start : start + count] = rng.standard_normal((count, *SEISMIC_SHAPE), dtype=np.float32) * 5.0
    seismic.flush()
    del seismic  # unmap: the written pages leave this process's resident set
    channels, depth, width = VELOCITY_SHAPE
    layered = np.sort(rng.uniform(*VELOCITY_RANGE, (samples, channels, depth, 1)), axis=2)  # velocity grows with depth
    velocity = layered.repeat(width, axis=3).astype(np.float32)
    np.save(pair.velocity, velocity)
    write_split_file(root / "train.txt", [pair], root)
    write_split_file(root / "val.txt", [pair], root)
    return root
