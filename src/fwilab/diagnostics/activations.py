"""Forward-hook activation capture for any network, selected by block type and/or module-path pattern.

The hooks stay registered for the whole run but do nothing unless a snapshot is being taken:
between snapshots a hook is one attribute check, with no copy and no device sync. A snapshot
runs the model on a fixed probe batch in eval mode without gradients, so it changes neither the
weights, nor BatchNorm's running statistics, nor any random state: training is the same with
or without snapshots. Each layer keeps only the first ``max_samples`` samples and
``max_channels`` channels, detached, as float32 on the CPU; with ``statistics=True`` the hook also
measures the layer's whole output (every channel) where it lives (``fwilab.diagnostics.statistics``),
so the numbers need no second forward pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

import torch
from torch import nn

from fwilab.diagnostics.statistics import LayerStatistics, layer_statistics, output_activation
from fwilab.errors import ConfigError
from fwilab.models.blocks import ConvBlock, DeconvBlock

DEFAULT_TYPES: tuple[type[nn.Module], ...] = (ConvBlock, DeconvBlock)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP / DataParallel and ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def path_pattern(pattern: str) -> re.Pattern:
    """A module-path glob: ``*`` matches within one path component, ``**`` across components.

    ``enc.*`` selects the direct children of ``enc``; ``enc.**`` everything below it;
    ``deconv5_*`` both of InversionNet's last decoder blocks.
    """
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    wildcards = {"**": ".*", "*": "[^.]*", "?": "[^.]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts) + r"\Z")


def select_layers(
    model: nn.Module, types: Sequence[type[nn.Module]] = DEFAULT_TYPES, patterns: Sequence[str] = ()
) -> dict[str, nn.Module]:
    """Modules by path, in registration order: instances of ``types`` plus paths matching a pattern."""
    compiled = [path_pattern(p) for p in patterns]
    return {
        name: module
        for name, module in unwrap(model).named_modules()
        if name and ((types and isinstance(module, tuple(types))) or any(p.match(name) for p in compiled))
    }


@dataclass
class Snapshot:
    """What the hooked layers produced for the probe batch, and the network's prediction for it."""

    activations: dict[str, torch.Tensor]
    prediction: torch.Tensor
    statistics: dict[str, LayerStatistics] = field(default_factory=dict)


class ActivationRecorder:
    """Hooks on selected layers; ``snapshot(batch)`` returns each layer's (K, C, H, W) output on the CPU.

    Use as a context manager so the hooks are removed however the block ends::

        with ActivationRecorder(model, patterns=["deconv5_*"]) as recorder:
            activations = recorder.snapshot(probe_batch)
    """

    def __init__(
        self,
        model: nn.Module,
        types: Sequence[type[nn.Module]] = DEFAULT_TYPES,
        patterns: Sequence[str] = (),
        max_samples: int = 2,
        max_channels: int = 16,
        statistics: bool = False,
    ):
        self.model = unwrap(model)
        self.statistics = statistics
        self.max_samples = max_samples
        self.max_channels = max_channels
        self.layers = select_layers(self.model, types, patterns)
        if not self.layers:
            raise ConfigError(
                f"diagnostics: no module of {type(self.model).__name__} matches types {list(types)} or patterns {list(patterns)}"
            )
        self.output_kinds = {name: output_activation(module) for name, module in self.layers.items()}
        self._capturing = False
        self._store: dict[str, torch.Tensor] = {}
        self._statistics: dict[str, LayerStatistics] = {}
        self._handles = [module.register_forward_hook(self._hook(name)) for name, module in self.layers.items()]

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if self._capturing:
                self._store[name] = output[: self.max_samples, : self.max_channels].detach().float().cpu().clone()
                if self.statistics and output.dim() in (2, 4):
                    self._statistics[name] = layer_statistics(output[: self.max_samples], self.output_kinds[name])

        return hook

    @torch.no_grad()
    def snapshot(self, inputs: torch.Tensor, mode: str = "eval") -> Snapshot:
        """Run the (uncompiled) model on the first samples of ``inputs`` and collect the hooked outputs.

        ``mode='eval'`` (default) shows what validation sees; ``mode='train'`` shows batch-statistics
        normalization, and restores BatchNorm's running statistics afterwards so training is unchanged.
        """
        if mode not in ("eval", "train"):
            raise ValueError(f"mode={mode!r} is not 'eval' or 'train'")
        was_training = self.model.training
        buffers = {name: buffer.clone() for name, buffer in self.model.named_buffers()} if mode == "train" else {}
        self.model.train(mode == "train")
        self._store, self._statistics = {}, {}
        self._capturing = True
        try:
            prediction = self.model(inputs[: self.max_samples])
        finally:
            self._capturing = False
            self.model.train(was_training)
            for name, buffer in self.model.named_buffers():
                if name in buffers:
                    buffer.copy_(buffers[name])
        activations, statistics, self._store, self._statistics = self._store, self._statistics, {}, {}
        return Snapshot(activations, prediction.detach().float().cpu(), statistics)

    def close(self) -> None:
        """Remove every hook (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> ActivationRecorder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
