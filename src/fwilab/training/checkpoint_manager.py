"""A run's checkpoints in one owner: the named parts each one carries, when one is written (cadence), which files
are kept (retention) and which one a run continues (resume policy).

The parts are handed over where the run is built (``fwilab.training.setup.build_run``), as torchtitan hands its
``Stateful`` components to one checkpointer: a new part (a critic, its optimizer, an EMA copy of the weights) is one
entry there, saved under its name and given back its state on resume.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fwilab.errors import CheckpointError
from fwilab.training.checkpoint import (
    BEST_WEIGHTS,
    RUN_KEYS,
    Checkpoint,
    CheckpointDirectory,
    RunIdentity,
    Stateful,
    export_weights,
)
from fwilab.training.distributed import DistributedContext
from fwilab.training.fingerprint import check_fingerprint

log = logging.getLogger(__name__)


class CheckpointManager:
    """Saves ``parts`` (name -> ``Stateful``, restored in this order) with the run's ``identity`` every
    ``every_steps`` steps and at every validation, keeps the newest ``keep_last`` step files, ``best.pt`` and
    ``last.pt`` in ``folder``, and resumes a run from one of them."""

    def __init__(
        self,
        folder: str | Path,
        parts: dict[str, Stateful],
        identity: RunIdentity,
        every_steps: int,
        steps_per_epoch: int,
        keep_last: int,
    ):
        reserved = sorted(set(parts) & set(RUN_KEYS))
        if reserved:
            raise ValueError(f"checkpoint part names {reserved} are the run's own keys ({', '.join(RUN_KEYS)})")
        self.directory = CheckpointDirectory(folder, keep_last)
        self.parts = parts
        self.identity = identity
        self.every_steps = every_steps
        self.steps_per_epoch = steps_per_epoch

    @property
    def folder(self) -> Path:
        return self.directory.folder

    def due(self, step: int, validates: bool) -> bool:
        """Whether ``step`` is checkpointed: at every validation and every ``every_steps`` steps (a stop saves too)."""
        return validates or step % self.every_steps == 0

    def checkpoint(self, step: int) -> Checkpoint:
        """The run as it is after ``step``: every part's state and the run's identity."""
        return Checkpoint(
            parts={name: part.state_dict() for name, part in self.parts.items()},
            config=self.identity.config,
            step=step,
            epoch=step // self.steps_per_epoch,
            normalizer=self.identity.normalizer,
            fingerprint=self.identity.fingerprint,
        )

    def save(self, step: int) -> Path:
        """``step_XXXXXXXX.pt`` (``last.pt`` links to it; older step files beyond ``keep_last`` go)."""
        return self.directory.save(step, self.checkpoint(step))

    def save_best(self, step: int) -> Path:
        return self.directory.save_best(self.checkpoint(step))

    def export_best_weights(self) -> Path | None:
        """``best_weights.pt`` from ``best.pt`` (the weights and the run's facts only), or None without a best."""
        best = self.folder / "best.pt"
        return export_weights(best, self.folder / BEST_WEIGHTS) if best.is_file() else None

    def resume(self, policy: str | None, context: DistributedContext) -> int:
        """Continue the checkpoint ``policy`` names (``auto`` or None: the newest intact one here; ``never``; a path)
        after checking it belongs to this run, each part taking back its state; the step it was taken at (0: none).

        Nothing in the folder changes before that check passes. Then a run that does not continue the newest
        checkpoint here moves the folder's checkpoints aside (and says where): they belong to another timeline.
        """
        if policy in (None, "auto"):
            newest, saved = self._newest_intact(context.is_main)
            path = newest
        else:
            newest = self.directory.latest()
            path = None if policy == "never" else Path(str(policy))
            saved = Checkpoint.read(path) if path is not None else None
        if saved is not None:
            self._check(saved, path)
        context.broadcast_from_main(None)  # every rank has read and checked it before rank 0 moves anything
        if context.is_main and (path is None or newest is None or path.resolve() != newest.resolve()):
            moved = self.directory.move_aside()
            if moved is not None:
                log.warning(
                    "trainer.resume=%s: the checkpoints already in %s were moved to %s", policy, self.folder, moved
                )
        if saved is None:
            return 0
        for name, part in self.parts.items():
            try:
                part.load_state_dict(saved.parts[name])
            except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as error:
                lines = [line.strip() for line in str(error).splitlines() if line.strip()]
                detail = lines[-1] if lines else type(error).__name__
                raise CheckpointError(f"cannot resume from {path}: its {name} does not load: {detail}") from None
        log.info("resuming from %s at step %d", path, saved.step)
        return saved.step

    def _check(self, saved: Checkpoint, path: Path) -> None:
        """Refuse ``saved`` unless it is of this run (the fingerprint) and holds every part of it."""
        check_fingerprint(saved.fingerprint, saved.config, self.identity.fingerprint, path)
        missing = [name for name in self.parts if name not in saved.parts]
        if missing:
            raise CheckpointError(
                f"cannot resume from {path}: it holds no {', '.join(missing)} (saved by a run without them); "
                "start over with trainer.resume=never"
            )

    def _newest_intact(self, main: bool) -> tuple[Path | None, Checkpoint | None]:
        """The newest step checkpoint that reads, and its content. A damaged newer one (a truncated file) is renamed
        ``*.pt.damaged`` (by rank 0) with a warning, so the run continues the intact one and retention never counts it."""
        files = self.directory.step_files()
        for index in reversed(range(len(files))):
            try:
                return files[index], Checkpoint.read(files[index])
            except CheckpointError as error:
                if index == 0:
                    raise CheckpointError(f"{error}; no intact checkpoint before it in {self.folder}") from None
                log.warning(
                    "%s; moved to %s.damaged, resuming from the newest intact one before it", error, files[index].name
                )
                if main:
                    files[index].rename(files[index].with_name(files[index].name + ".damaged"))
        return None, None
