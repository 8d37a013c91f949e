"""Mock OpenFWI downloads: the official file names of each family, a few samples per file.

The names follow OpenFWI's own ``split_files/*.txt`` (the table below), written independently of
fwilab's layout code. Seismic files are sparse (zeros never written), so a Fault family's 108 files
cost little disk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# family -> (folder name, naming, train numbers, validation numbers), as OpenFWI's split files list them
FAULT_A = ("fault", [(g, i) for g in (2, 3, 4) for i in range(32)], [(g, i) for g in (2, 3, 4) for i in range(32, 36)])
FAULT_B = ("fault", [(g, i) for g in (6, 7, 8) for i in range(32)], [(g, i) for g in (6, 7, 8) for i in range(32, 36)])
VEL = ("numbered", list(range(1, 49)), list(range(49, 61)))
STYLE = ("numbered", list(range(1, 121)), list(range(121, 135)))
FAMILIES = {
    "flatvel_a": ("FlatVel_A", *VEL),
    "flatvel_b": ("FlatVel_B", *VEL),
    "curvevel_a": ("CurveVel_A", *VEL),
    "curvevel_b": ("CurveVel_B", *VEL),
    "flatfault_a": ("FlatFault_A", *FAULT_A),
    "flatfault_b": ("FlatFault_B", *FAULT_B),
    "curvefault_a": ("CurveFault_A", *FAULT_A),
    "curvefault_b": ("CurveFault_B", *FAULT_B),
    "style_a": ("Style_A", *STYLE),
    "style_b": ("Style_B", *STYLE),
}


def relative_names(family: str, split: str) -> list[tuple[str, str]]:
    """(seismic, velocity) paths of ``split`` relative to the family folder, in OpenFWI's split-file order."""
    _, naming, train, val = FAMILIES[family]
    numbers = train if split == "train" else val
    if naming == "fault":
        return [(f"seis{g}_1_{i}.npy", f"vel{g}_1_{i}.npy") for g, i in numbers]
    return [(f"data/data{n}.npy", f"model/model{n}.npy") for n in numbers]


def write_download(parent: Path, family: str, samples_per_file: int = 1) -> Path:
    """The unpacked family folder under ``parent``; velocity sample k of file j is filled with a value naming it, and
    the first value of each seismic sample names its file."""
    root = parent / FAMILIES[family][0]
    for index, (seismic, velocity) in enumerate(relative_names(family, "train") + relative_names(family, "val")):
        (root / seismic).parent.mkdir(parents=True, exist_ok=True)
        (root / velocity).parent.mkdir(parents=True, exist_ok=True)
        gathers = np.lib.format.open_memmap(
            root / seismic, mode="w+", dtype=np.float32, shape=(samples_per_file, 5, 1000, 70)
        )
        gathers[:, 0, 0, 0] = index + 1  # each file's records differ (the data check compares first samples)
        gathers.flush()
        labels = 1500.0 + (index * samples_per_file + np.arange(samples_per_file, dtype=np.float32)) % 3000
        np.save(
            root / velocity,
            np.broadcast_to(labels[:, None, None, None], (samples_per_file, 1, 70, 70)).astype(np.float32),
        )
    return root


def write_openfwi_split_files(root: Path, family: str, out: Path) -> dict[str, Path]:
    """OpenFWI-style split files listing absolute paths of its authors' cluster (which do not exist here)."""
    cluster = Path("/projects/piml_inversion/FWIOpenData") / root.name
    files = {}
    for split in ("train", "val"):
        path = out / f"{family}_{split}.txt"
        path.write_text("".join(f"{cluster / s}\t{cluster / v}\n" for s, v in relative_names(family, split)))
        files[split] = path
    return files
