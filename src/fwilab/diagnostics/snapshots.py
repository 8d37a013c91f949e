"""Activation snapshots on a schedule: capture on a fixed probe batch, render, hand to the loggers.

The probe batch is the first ``max_samples`` validation samples, so pictures compare across
steps and across runs on the same data. Activations are rendered for the first probe sample (a
labelled montage and a PCA-RGB picture per layer; a 1 x 1 bottleneck gets only a montage of its
channel values); every probe sample gets a velocity panel. With ``diagnostics.statistics`` each
layer is also measured (``fwilab.diagnostics.statistics``: mean, std, negative or saturated share,
constant channels, effective rank, and linear CKA against the previous snapshot's responses on the
same probe). During training only the capture runs
on the training thread; rendering and logging run on the logger's worker thread
(``fwilab.tracking.background``), so a snapshot costs training about one forward pass on the probe
batch.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from hydra.utils import get_class
from torch import nn

from fwilab.config.groups import DiagnosticsSettings
from fwilab.data.transforms import Normalizer
from fwilab.diagnostics.activations import ActivationRecorder, Snapshot
from fwilab.diagnostics.render import (
    PCABasis,
    render_montage,
    render_pca_rgb,
    render_velocity_panel,
)
from fwilab.diagnostics.statistics import MIN_EXAMPLES, linear_cka
from fwilab.errors import ConfigError
from fwilab.tracking.run_logger import SnapshotLog

log = logging.getLogger(__name__)

MONTAGE_TILE_PIXELS = 32
PCA_IMAGE_PIXELS = 160


def check_diagnostics(cfg: DiagnosticsSettings, probe_samples: int | None = None) -> None:
    """What the settings (fwilab.config) cannot know: whether train-mode snapshots get the two probe samples that
    BatchNorm needs; ``probe_samples``: how many the probe will hold (None: ``max_samples``)."""
    samples = cfg.max_samples if probe_samples is None else probe_samples
    if cfg.mode == "train" and samples < 2:
        raise ConfigError(
            f"diagnostics.mode=train needs at least 2 probe samples, this probe holds {samples}: BatchNorm in training "
            "mode cannot normalize one sample at the 1x1 bottleneck (use diagnostics.mode=eval)"
        )


def upscale_factor(height: int, width: int, target: int) -> int:
    """Integer upscaling that makes a map's short side at least ``target`` pixels."""
    return max(1, target // max(1, min(height, width)))


class ActivationSnapshots:
    """Owns the recorder and the probe batch; ``take()`` returns the snapshot's pictures and numbers, and flags."""

    def __init__(
        self,
        model: nn.Module,
        probe_inputs: torch.Tensor,
        probe_velocity: torch.Tensor,
        normalizer: Normalizer,
        cfg: DiagnosticsSettings,
    ):
        self.cfg = cfg
        self.recorder = ActivationRecorder(
            model,
            types=[get_class(name) for name in cfg.types],
            patterns=list(cfg.patterns),
            max_samples=cfg.max_samples,
            max_channels=cfg.max_channels,
            statistics=cfg.statistics,
        )
        self.probe_inputs = probe_inputs[: cfg.max_samples]
        self.probe_velocity_ms = probe_velocity[: cfg.max_samples].float().cpu()
        self.normalizer = normalizer
        self.bases: dict[str, PCABasis] = {}
        self.previous_rows: dict[str, torch.Tensor] = {}

    def due(self, step: int) -> bool:
        every = self.cfg.every_n_steps
        return bool(every) and step % every == 0

    def take(self) -> tuple[SnapshotLog, list[str]]:
        """Snapshot the probe batch, render and measure it."""
        return self.render(self.capture())

    def capture(self) -> Snapshot:
        """The probe batch's hooked activations and prediction, copied to the CPU."""
        return self.recorder.snapshot(self.probe_inputs, mode=self.cfg.mode)

    def render(self, snapshot: Snapshot) -> tuple[SnapshotLog, list[str]]:
        """Pictures, numbers and flags; call in capture order (PCA colours and the drift CKA follow the previous snapshot)."""
        images: dict[str, np.ndarray] = {}
        flags: list[str] = []
        for layer, activations in snapshot.activations.items():
            if activations.dim() != 4:
                flags.append(f"{layer}: output of shape {tuple(activations.shape)} is not a feature map")
                continue
            sample = activations[0].numpy()
            height, width = sample.shape[1:]
            if height * width == 1:  # a bottleneck vector: one pixel per channel, only shared scaling means anything
                montage = render_montage(
                    sample, self.cfg.max_channels, "shared", percentile=0.0, scale=MONTAGE_TILE_PIXELS
                )
            else:
                scale = upscale_factor(height, width, MONTAGE_TILE_PIXELS)
                montage = render_montage(
                    sample,
                    self.cfg.max_channels,
                    self.cfg.montage_normalization,
                    percentile=self.cfg.percentile,
                    scale=scale,
                )
                pca, self.bases[layer] = render_pca_rgb(
                    sample, self.bases.get(layer), scale=upscale_factor(height, width, PCA_IMAGE_PIXELS)
                )
                images[f"activations/{layer}/pca_rgb"] = pca.image
                flags += [f"{layer} {flag}" for flag in pca.flags]
            images[f"activations/{layer}/montage"] = montage.image
            flags += [f"{layer} {flag}" for flag in montage.flags]
        prediction_ms = self.normalizer.velocity_to_ms(snapshot.prediction).numpy()
        vel_range = (self.normalizer.vel_min, self.normalizer.vel_max)
        for index, (predicted, true) in enumerate(zip(prediction_ms, self.probe_velocity_ms.numpy())):
            panel = render_velocity_panel(predicted[0], true[0], vel_range)
            images[f"velocity/sample{index}"] = panel.image
            flags += [f"velocity sample {index} {flag}" for flag in panel.flags]
        return SnapshotLog(images, *self.measure(snapshot)), flags

    def measure(self, snapshot: Snapshot) -> tuple[dict[str, float], dict[str, tuple[list[int], list[float]]]]:
        """Per-layer scalars ('activations/<layer>/<statistic>') and histograms; CKA against the previous call's rows."""
        scalars: dict[str, float] = {}
        histograms: dict[str, tuple[list[int], list[float]]] = {}
        for layer, statistics in snapshot.statistics.items():
            scalars.update({f"activations/{layer}/{name}": value for name, value in statistics.scalars.items()})
            previous = self.previous_rows.get(layer)
            if previous is not None and previous.shape == statistics.rows.shape and len(previous) >= MIN_EXAMPLES:
                drift = linear_cka(previous, statistics.rows)
                if np.isfinite(drift):
                    scalars[f"activations/{layer}/cka_previous"] = drift
            self.previous_rows[layer] = statistics.rows
            histograms[f"activations/{layer}/histogram"] = statistics.histogram()
        return scalars, histograms

    def review(self, snapshot: Snapshot, step: int) -> SnapshotLog:
        """The rendered and measured snapshot of ``step``, with a warning for every flagged layer or panel."""
        review, flags = self.render(snapshot)
        for flag in flags:
            log.warning("step %d snapshot: %s", step, flag)
        return review

    def close(self) -> None:
        self.recorder.close()
