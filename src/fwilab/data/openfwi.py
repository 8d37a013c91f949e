"""The OpenFWI file contract: paired .npy files, split files, the official layout, a memory-mapped data set.

A data file holds seismic ``(n, 5, 1000, 70)`` float32 and its partner velocity ``(n, 1, 70, 70)``
float32 (n = 500 in the official download). A split file lists one ``seis_path<TAB>vel_path`` pair
per line; relative paths resolve against the data root. A line with the seismic path alone lists
gathers without velocity maps (refinement reports their data misfit; physics-driven training learns
from them). The official download needs no split file: an ``OfficialLayout`` names a family's files (``data/dataN.npy`` + ``model/modelN.npy`` for
the Vel and Style families, ``seis{G}_1_{i}.npy`` + ``vel{G}_1_{i}.npy`` for the Fault families) and
which of them are train and which validation.

A data set may be given as seismic only (no velocity files: field data, or a set whose labels are withheld):
its pairs have no velocity path (a split file's line then names one seismic file; an official layout whose
velocity files are all absent), and physics-driven training reads it. A data set may also be read with only some
of its labels (``labelled_share``): the velocity of any other sample is never read, its file never opened when none of
its samples is labelled, and its item's map is all NaN (``UNLABELLED``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from fwilab.data_contract import SEISMIC_SHAPE, VELOCITY_SHAPE
from fwilab.errors import DataError
from fwilab.io import check_readable, not_a_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilePair:
    """One seismic file and the velocity file that labels it (None: seismic only)."""

    seismic: Path
    velocity: Path | None


UNLABELLED = float("nan")  # every cell of the map of a sample whose velocity is not read


def _found_by_name(listed: Path, root: Path) -> Path | None:
    """``listed``'s file under ``root``: in the same sub-folder (``data/``, ``model/``) or directly there."""
    for candidate in (root / listed.parent.name / listed.name, root / listed.name):
        if candidate.is_file():
            return candidate
    return None


def read_split_file(split_file: str | Path, root: str | Path | None = None) -> list[FilePair]:
    """Pairs listed in an OpenFWI split file; relative paths resolve against ``root``.

    OpenFWI's own split files hold absolute paths of its authors' cluster: a listed file that does
    not exist is looked up by name under ``root`` (said once in the log).
    """
    split_file = Path(split_file)
    if not split_file.is_file():
        raise DataError(f"split file {split_file} {not_a_file(split_file)}")
    base = Path(root) if root is not None else split_file.parent
    pairs, relocated = [], []
    for number, line in enumerate(split_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split("\t") if "\t" in line else line.split()
        if len(fields) not in (1, 2):
            raise DataError(f"{split_file}:{number}: expected 'seis_path<TAB>vel_path' or 'seis_path', got {line!r}")
        paths = [Path(field) if Path(field).is_absolute() else base / field for field in fields]
        for k, path in enumerate(paths):
            if not path.exists() and root is not None and (found := _found_by_name(path, base)) is not None:
                relocated.append(path)
                paths[k] = found
        pairs.append(FilePair(paths[0], paths[1] if len(paths) == 2 else None))
    if not pairs:
        raise DataError(f"split file {split_file} lists no files")
    if relocated:
        log.info(
            "%s lists %d paths that do not exist (e.g. %s); read by name under %s",
            split_file,
            len(relocated),
            relocated[0],
            base,
        )
    return pairs


def write_split_file(split_file: str | Path, pairs: Sequence[FilePair], root: str | Path) -> None:
    """Write pairs as an OpenFWI split file, with paths relative to ``root`` (one path for a seismic-only pair)."""
    root = Path(root)
    lines = [
        "\t".join(str(path.relative_to(root)) for path in (p.seismic, p.velocity) if path is not None) for p in pairs
    ]
    Path(split_file).write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class OfficialLayout:
    """How an OpenFWI family's download names its files, and which are train and which validation.

    ``pattern='numbered'`` (Vel and Style families): ``data/dataN.npy`` + ``model/modelN.npy``
    (or both directly under the root) for N in the inclusive ``train`` / ``val`` ranges.
    ``pattern='fault'`` (Fault families): ``seis{G}_1_{i}.npy`` + ``vel{G}_1_{i}.npy`` directly under
    the root, for every G in ``groups`` and i in the inclusive ranges.
    """

    pattern: str
    train: tuple[int, int]
    val: tuple[int, int]
    groups: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.pattern not in ("numbered", "fault"):
            raise DataError(f"data.layout.pattern={self.pattern!r} is not 'numbered' or 'fault'")
        if self.pattern == "fault" and not self.groups:
            raise DataError("data.layout.groups must list the file groups of a 'fault' layout")

    def _numbers(self, split: str) -> range:
        first, last = self.train if split == "train" else self.val
        return range(int(first), int(last) + 1)

    def describe(self, split: str) -> str:
        numbers = self._numbers(split)
        span = f"{numbers.start}..{numbers.stop - 1}"
        if self.pattern == "numbered":
            return f"data/data{{{span}}}.npy + model/model{{{span}}}.npy"
        groups = ",".join(map(str, self.groups))
        return f"seis{{{groups}}}_1_{{{span}}}.npy + vel{{{groups}}}_1_{{{span}}}.npy"

    def candidates(self, root: Path, split: str) -> list[list[FilePair]]:
        """For each file of ``split``, the places it may be (the first that exists is used)."""
        if self.pattern == "numbered":
            return [
                [
                    FilePair(root / "data" / f"data{n}.npy", root / "model" / f"model{n}.npy"),
                    FilePair(root / f"data{n}.npy", root / f"model{n}.npy"),
                ]
                for n in self._numbers(split)
            ]
        return [
            [FilePair(root / f"seis{g}_1_{i}.npy", root / f"vel{g}_1_{i}.npy")]
            for g in self.groups
            for i in self._numbers(split)
        ]


FAULT_VARIANTS = {  # what to call each Fault variant: its file groups and its families' configs
    "A (FlatFault-A or CurveFault-A)": ({2, 3, 4}, ("flatfault_a", "curvefault_a")),
    "B (FlatFault-B or CurveFault-B)": ({6, 7, 8}, ("flatfault_b", "curvefault_b")),
}
NUMBERED_FAMILIES = {  # the highest file number of each numbered download, what to call it, and its configs
    60: ("Vel-family (FlatVel, CurveVel: 1..60)", ("flatvel_a", "flatvel_b", "curvevel_a", "curvevel_b")),
    134: ("Style-family (1..134)", ("style_a", "style_b")),
}


def identify_folder(root: Path) -> tuple[str, tuple[str, ...]]:
    """What an OpenFWI-looking folder holds, and the ``data=`` configs that read such a folder (may be none)."""
    names = [
        path.name
        for folder in (root, root / "data", root / "model")
        if folder.is_dir()
        for path in folder.glob("*.npy")
    ]
    fault_groups = sorted({int(m.group(1)) for name in names if (m := re.fullmatch(r"seis(\d+)_1_\d+\.npy", name))})
    numbered = sorted({int(m.group(1)) for name in names if (m := re.fullmatch(r"data(\d+)\.npy", name))})
    if fault_groups:
        variant, families = next(
            (
                (f" {name}", families)
                for name, (groups, families) in FAULT_VARIANTS.items()
                if set(fault_groups) <= groups
            ),
            ("", ()),
        )
        groups = ",".join(map(str, fault_groups))
        return f"found seis{{{groups}}}_1_*.npy files: this looks like a Fault-family{variant} folder", families
    if numbered:
        family, families = NUMBERED_FAMILIES[60 if max(numbered) <= 60 else 134]
        return f"found data{numbered[0]}..data{numbered[-1]}.npy: this looks like a {family} folder", families
    if (root / "train.txt").is_file():
        return (
            "found train.txt: this looks like a data set with split files "
            "(set data.train_split=train.txt data.val_split=val.txt)",
            (),
        )
    if names:
        return f"found {len(names)} other .npy files (e.g. {names[0]})", ()
    return "found no .npy files", ()


def describe_folder(root: Path) -> str:
    """What an OpenFWI-looking folder holds, for an error message about the wrong root."""
    return identify_folder(root)[0]


def official_pairs(root: str | Path, layout: OfficialLayout, split: str) -> list[FilePair]:
    """The pairs of ``split`` in an unpacked OpenFWI download at ``root``; every file must be there, or every seismic
    file and no velocity file (a seismic-only set: pairs without a velocity path)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist (set data.root to the unpacked OpenFWI family folder)")
    places_of = layout.candidates(root, split)
    if not any(pair.velocity.exists() for places in places_of for pair in places):
        seismic_only = [next((pair for pair in places if pair.seismic.is_file()), None) for places in places_of]
        if all(seismic_only):
            log.info("%s holds no velocity files for %s: a seismic-only split", root, split)
            return [FilePair(pair.seismic, None) for pair in seismic_only]
    pairs, missing = [], []
    for places in places_of:
        found = next((pair for pair in places if pair.seismic.is_file() and pair.velocity.is_file()), None)
        if found is None:
            missing.append(places[0])
        pairs.append(found or places[0])
    if len(missing) == len(pairs):
        raise DataError(f"{root} does not hold the expected {layout.describe(split)}: {describe_folder(root)}")
    if missing:
        first = missing[0]
        absent = first.seismic if not first.seismic.is_file() else first.velocity
        raise DataError(
            f"{len(missing)} of the {len(pairs)} files of {layout.describe(split)} are missing under {root}, e.g. {absent}"
        )
    return pairs


def _open_array(path: Path, expected_shape: tuple[int, ...]) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"data file {path} {not_a_file(path)}")
    check_readable(path)  # an unreadable file is an OS error (path and cause), not a corrupt one
    try:
        array = np.load(path, mmap_mode="r")
    except Exception as error:
        raise DataError(f"cannot read {path} as a .npy array ({error}); the file is truncated or corrupt") from None
    if array.dtype != np.float32:
        raise DataError(f"{path} has dtype {array.dtype}; OpenFWI files are float32")
    if array.ndim != 4 or tuple(array.shape[1:]) != expected_shape:
        raise DataError(f"{path} has shape {tuple(array.shape)}; expected (n, {', '.join(map(str, expected_shape))})")
    if not array.flags.c_contiguous:
        raise DataError(
            f"{path} is stored in Fortran order; OpenFWI files are C-ordered (save with np.ascontiguousarray)"
        )
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


def read_velocity_file(path: str | Path) -> np.ndarray:
    """An OpenFWI velocity file (n, 1, 70, 70) float32, checked as training reads one (e.g. refined maps)."""
    return np.array(_open_array(Path(path), VELOCITY_SHAPE))


def open_labels(pair: FilePair, n_samples: int) -> np.ndarray:
    """Memory-map the velocity file of a pair whose seismic file holds ``n_samples``, after checking its shape, dtype
    and sample count."""
    velocity = _open_array(pair.velocity, VELOCITY_SHAPE)
    if n_samples != len(velocity):
        raise DataError(f"{pair.seismic} holds {n_samples} samples but its labels {pair.velocity} hold {len(velocity)}")
    return velocity


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

    Items are raw float32 ``(seismic, velocity)`` arrays; transforms run batched on the device. ``labelled_share``:
    the share of the items whose velocity is read, ``subset_indices(len, round(share * len), seed)`` (so share 0.1 of
    the whole split labels the samples that ``count = 0.1 * total`` with the same seed selects); None: all of them
    when every pair has a velocity file, none when no pair has (a seismic-only split). The velocity of any other
    item is never read (its map is all NaN, ``UNLABELLED``) and a velocity file none of whose samples is labelled is
    never opened.
    """

    def __init__(
        self,
        pairs: Sequence[FilePair],
        count: int | None = None,
        seed: int = 0,
        labelled_share: float | None = None,
    ):
        if not pairs:
            raise DataError("a data split needs at least one file pair")
        self.pairs = list(pairs)
        seismic = [_open_array(pair.seismic, SEISMIC_SHAPE) for pair in self.pairs]
        self._offsets = np.cumsum([0] + [len(array) for array in seismic])
        self.indices = subset_indices(int(self._offsets[-1]), count, seed)
        unlabelled_pairs = [pair.seismic for pair in self.pairs if pair.velocity is None]
        if unlabelled_pairs and len(unlabelled_pairs) < len(self.pairs):
            raise DataError(f"{unlabelled_pairs[0]} has no velocity file but other files of its split have")
        if labelled_share is None:
            labelled_share = 0.0 if unlabelled_pairs else 1.0
        labelled_count = round(labelled_share * len(self.indices))
        if labelled_share > 0 and not labelled_count:
            raise DataError(
                f"a labelled share of {labelled_share:g} of {len(self.indices)} samples labels none of them: "
                f"give a share of at least {1 / len(self.indices):.2g}, or 0 for none"
            )
        self.labelled = subset_indices(len(self.indices), labelled_count, seed) if labelled_count else np.arange(0)
        self._is_labelled = np.zeros(len(self.indices), dtype=bool)
        self._is_labelled[self.labelled] = True
        files_labelled = set(np.searchsorted(self._offsets, self.indices[self.labelled], side="right") - 1)
        for k in sorted(files_labelled):
            if self.pairs[k].velocity is None:
                raise DataError(f"{self.pairs[k].seismic} has no velocity file, but its labels are asked for")
        self._arrays = [
            (array, open_labels(pair, len(array)) if k in files_labelled else None)
            for k, (pair, array) in enumerate(zip(self.pairs, seismic))
        ]

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def has_all_labels(self) -> bool:
        """Whether every item's velocity map is read (a seismic-only split's: none is)."""
        return len(self.labelled) == len(self.indices)

    def gathers(self, index: int) -> torch.Tensor:
        """The shot gathers (5, 1000, 70) of item ``index``, labelled or not: what refinement fits."""
        file_index, row = self.locate(index)
        pair = self.pairs[file_index]
        seismic = read_sample(pair.seismic, self._arrays[file_index][0], row)
        if not np.isfinite(seismic).all():
            raise DataError(f"{pair.seismic} sample {row} holds NaN or Inf values")
        return torch.from_numpy(seismic)

    def rows_by_file(self) -> list[np.ndarray]:
        """For each file of ``pairs``, the sorted sample numbers within it that the data set uses."""
        files = np.searchsorted(self._offsets, self.indices, side="right") - 1
        return [self.indices[files == k] - self._offsets[k] for k in range(len(self.pairs))]

    def mapped(self, file_index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The memory-mapped (seismic, velocity) arrays of file ``file_index`` (velocity None: none of its labels read)."""
        return self._arrays[file_index]

    def labelled_rows_by_file(self) -> list[np.ndarray]:
        """For each file of ``pairs``, the sorted sample numbers within it whose velocity the data set reads."""
        indices = self.indices[self.labelled]
        files = np.searchsorted(self._offsets, indices, side="right") - 1
        return [indices[files == k] - self._offsets[k] for k in range(len(self.pairs))]

    def locate(self, index: int) -> tuple[int, int]:
        """(file number in ``pairs``, sample number within that file) of dataset item ``index``."""
        flat = int(self.indices[index])
        file_index = int(np.searchsorted(self._offsets, flat, side="right") - 1)
        return file_index, flat - int(self._offsets[file_index])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        file_index, row = self.locate(index)
        pair = self.pairs[file_index]
        seismic_file, velocity_file = self._arrays[file_index]
        read = [(read_sample(pair.seismic, seismic_file, row), pair.seismic)]
        if self._is_labelled[index]:
            read.append((read_sample(pair.velocity, velocity_file, row), pair.velocity))
        for array, path in read:
            if not np.isfinite(array).all():
                raise DataError(f"{path} sample {row} holds NaN or Inf values")
        velocity = read[1][0] if len(read) == 2 else np.full(VELOCITY_SHAPE, UNLABELLED, dtype=np.float32)
        return torch.from_numpy(read[0][0]), torch.from_numpy(velocity)


def first_samples(dataset: Dataset, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` samples of ``dataset`` (all of them when it is smaller), stacked: gathers (n, 5, 1000, 70)
    and maps (n, 1, 70, 70), raw, on the CPU. The fixed probe set of validation pictures, data fits and diagnostics."""
    items = [dataset[index] for index in range(min(count, len(dataset)))]
    return torch.stack([seismic for seismic, _ in items]), torch.stack([velocity for _, velocity in items])
