"""The OpenFWI file contract: paired .npy files, split files, the official layout, a memory-mapped data set.

A data file holds seismic ``(n, 5, 1000, 70)`` float32 and its partner velocity ``(n, 1, 70, 70)``
float32 (n = 500 in the official download). A split file lists one ``seis_path<TAB>vel_path`` pair
per line; relative paths resolve against the data root. The official download needs no split
file: ``dataN.npy`` / ``modelN.npy`` (directly under the root or in ``data/`` and ``model/``)
numbered 1..K, with a family's train and test files given as inclusive number ranges.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from fwilab.errors import DataError

SEISMIC_SHAPE = (5, 1000, 70)
VELOCITY_SHAPE = (1, 70, 70)


@dataclass(frozen=True)
class FilePair:
    """One seismic file and the velocity file that labels it."""

    seismic: Path
    velocity: Path


def read_split_file(split_file: str | Path, root: str | Path | None = None) -> list[FilePair]:
    """Pairs listed in an OpenFWI split file; relative paths resolve against ``root``."""
    split_file = Path(split_file)
    if not split_file.is_file():
        raise DataError(f"split file {split_file} does not exist")
    base = Path(root) if root is not None else split_file.parent
    pairs = []
    for number, line in enumerate(split_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split("\t") if "\t" in line else line.split()
        if len(fields) != 2:
            raise DataError(f"{split_file}:{number}: expected 'seis_path<TAB>vel_path', got {line!r}")
        seismic, velocity = (Path(field) if Path(field).is_absolute() else base / field for field in fields)
        pairs.append(FilePair(seismic, velocity))
    if not pairs:
        raise DataError(f"split file {split_file} lists no files")
    return pairs


def write_split_file(split_file: str | Path, pairs: Sequence[FilePair], root: str | Path) -> None:
    """Write pairs as an OpenFWI split file, with paths relative to ``root``."""
    root = Path(root)
    lines = [f"{p.seismic.relative_to(root)}\t{p.velocity.relative_to(root)}" for p in pairs]
    Path(split_file).write_text("\n".join(lines) + "\n")


def official_pairs(root: str | Path, first: int, last: int) -> list[FilePair]:
    """Pairs ``dataN.npy`` / ``modelN.npy`` for N in [first, last] of an unpacked OpenFWI download."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist (set data.root to the unpacked OpenFWI family)")
    pairs = []
    for number in range(first, last + 1):
        candidates = [
            (root / f"data{number}.npy", root / f"model{number}.npy"),
            (root / "data" / f"data{number}.npy", root / "model" / f"model{number}.npy"),
        ]
        found = next(((s, v) for s, v in candidates if s.exists() or v.exists()), candidates[0])
        pairs.append(FilePair(*found))
    return pairs


def _open_array(path: Path, expected_shape: tuple[int, ...]) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    try:
        array = np.load(path, mmap_mode="r")
    except Exception as error:
        raise DataError(f"cannot read {path} as a .npy array ({error}); the file is truncated or corrupt") from None
    if array.dtype != np.float32:
        raise DataError(f"{path} has dtype {array.dtype}; OpenFWI files are float32")
    if array.ndim != 4 or tuple(array.shape[1:]) != expected_shape:
        raise DataError(f"{path} has shape {tuple(array.shape)}; expected (n, {', '.join(map(str, expected_shape))})")
    if not array.flags.c_contiguous:
        raise DataError(f"{path} is stored in Fortran order; OpenFWI files are C-ordered (save with np.ascontiguousarray)")
    return array


def read_sample(path: Path, array: np.memmap, row: int) -> np.ndarray:
    """Sample ``row`` of a memory-mapped .npy file, read with pread into a private buffer.

    Reading instead of touching the mapping keeps the file's pages out of this process's resident
    set (they stay in the OS page cache), so a run's RSS is flat however large the data set is.
    """
    size = array[0].nbytes
    with open(path, "rb") as handle:
        data = os.pread(handle.fileno(), size, array.offset + row * size)
    if len(data) != size:
        raise DataError(f"{path} ends inside sample {row}; the file is truncated")
    return np.frombuffer(bytearray(data), dtype=array.dtype).reshape(array.shape[1:])


def open_pair(pair: FilePair) -> tuple[np.ndarray, np.ndarray]:
    """Memory-map one pair after checking shapes, dtypes and matching sample counts."""
    seismic = _open_array(pair.seismic, SEISMIC_SHAPE)
    velocity = _open_array(pair.velocity, VELOCITY_SHAPE)
    if len(seismic) != len(velocity):
        raise DataError(
            f"{pair.seismic} holds {len(seismic)} samples but its labels {pair.velocity} hold {len(velocity)}"
        )
    return seismic, velocity


def subset_indices(total: int, count: int | None, seed: int) -> np.ndarray:
    """A reproducible sorted subset of ``count`` of ``total`` sample indices (all when count is None)."""
    if count is None or count == total:
        return np.arange(total)
    if count <= 0 or count > total:
        raise DataError(f"asked for a subset of {count} samples from a split of {total}")
    return np.sort(np.random.default_rng(seed).choice(total, size=count, replace=False))


class OpenFWIDataset(Dataset):
    """Samples from OpenFWI files, mapped for their headers and read sample by sample: resident
    memory does not grow with the data set.

    Items are raw float32 ``(seismic, velocity)`` arrays; transforms run batched on the device.
    """

    def __init__(self, pairs: Sequence[FilePair], count: int | None = None, seed: int = 0):
        if not pairs:
            raise DataError("a data split needs at least one file pair")
        self.pairs = list(pairs)
        self._arrays = [open_pair(pair) for pair in self.pairs]
        self._offsets = np.cumsum([0] + [len(seismic) for seismic, _ in self._arrays])
        self.indices = subset_indices(int(self._offsets[-1]), count, seed)

    def __len__(self) -> int:
        return len(self.indices)

    def locate(self, index: int) -> tuple[int, int]:
        """(file number in ``pairs``, sample number within that file) of dataset item ``index``."""
        flat = int(self.indices[index])
        file_index = int(np.searchsorted(self._offsets, flat, side="right") - 1)
        return file_index, flat - int(self._offsets[file_index])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        file_index, row = self.locate(index)
        pair = self.pairs[file_index]
        seismic_file, velocity_file = self._arrays[file_index]
        seismic, velocity = read_sample(pair.seismic, seismic_file, row), read_sample(pair.velocity, velocity_file, row)
        for array, path in ((seismic, pair.seismic), (velocity, pair.velocity)):
            if not np.isfinite(array).all():
                raise DataError(f"{path} sample {row} holds NaN or Inf values")
        return torch.from_numpy(seismic), torch.from_numpy(velocity)
