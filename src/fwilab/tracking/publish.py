"""One way a task publishes what it made: its pictures as PNGs, its result as JSON with its status, and the same
to the run's logger (W&B: pictures, tables, per-step history, summary, then finish).

The result file is written after the pictures, so a result file with ``status: completed`` means every output of
the task is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fwilab.io import write_json
from fwilab.tracking.run_logger import RunLogger


@dataclass
class TaskOutputs:
    """What a task made. Picture and table keys are W&B keys, 'group/name'; a picture's file is named after 'name'."""

    result: dict[str, Any]  # the result file's content; publishing adds "status"
    step: int = 0  # the step the pictures, tables and summary belong to (a checkpoint's step, ...)
    pictures: dict[str, np.ndarray] = field(default_factory=dict)  # key -> RGB picture (H, W, 3) uint8
    tables: dict[str, tuple[list[str], list[list[Any]]]] = field(default_factory=dict)  # key -> (columns, rows)
    history: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # (step, metrics) rows, in order
    summary: dict[str, Any] = field(default_factory=dict)
    picture_names: dict[str, str] = field(default_factory=dict)  # key -> file stem, where it is not the key's name


def picture_path(folder: Path, key: str, names: dict[str, str] | None = None) -> Path:
    """Where the picture of W&B key 'group/name' is written: ``folder/name.png``, or the stem ``names`` gives it."""
    return folder / f"{(names or {}).get(key, key.rsplit('/', 1)[-1])}.png"


def publish(
    outputs: TaskOutputs, run_dir: str | Path, result_file: str, logger: RunLogger, picture_folder: str = ""
) -> dict[str, Any]:
    """Write the pictures under ``run_dir/picture_folder``, then ``run_dir/result_file`` with status completed;
    log the same (``outputs.history`` first, in step order) and finish the logger. Returns what was written."""
    run_dir = Path(run_dir)
    folder = run_dir / picture_folder
    folder.mkdir(parents=True, exist_ok=True)
    for key, picture in outputs.pictures.items():
        Image.fromarray(picture).save(picture_path(folder, key, outputs.picture_names))
    result = {**outputs.result, "status": "completed"}
    write_json(run_dir / result_file, result)
    for step, metrics in outputs.history:
        logger.log_metrics(metrics, step=step)
    if outputs.pictures:
        logger.log_images(outputs.pictures, step=outputs.step)
    for key, (columns, rows) in outputs.tables.items():
        logger.log_table(key, columns, rows, step=outputs.step)
    logger.log_summary(outputs.summary)
    logger.finish("completed")
    return result
