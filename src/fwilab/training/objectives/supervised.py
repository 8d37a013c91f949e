"""Supervised regression (OpenFWI's ``train.py``): the velocity loss of the model's map against the label."""

from __future__ import annotations

import torch

from fwilab.training.batches import TrainBatch
from fwilab.training.objectives.base import Objective, apply_update


class Supervised(Objective):
    name = "supervised"
    needs_velocity = True

    def step(self, batch: TrainBatch) -> dict[str, torch.Tensor]:
        """One optimizer step of the model on the velocity loss."""
        tools, state = self.tools, self.tools.state
        inputs = tools.inputs(batch)
        with tools.fast.autocast(inputs.device):
            loss = tools.velocity_loss(tools.replica(inputs), tools.normalizer.velocity(batch.velocity))
        admitted = apply_update(tools, state.optimizer, loss, state.model.parameters(), tools.grad_clip_norm)
        state.scaler.update()
        state.scheduler.step()
        return {"loss": loss.detach()} if admitted else {}
