"""Physics-driven training (UPFWI, Jin et al., ICLR 2022): the model's map is re-simulated with fwilab's forward
operator and compared with the batch's recorded seismic, so a sample needs no velocity label.

The step's loss is ``data_weight`` x the data loss of every sample (``fwilab.physics.data_loss``: the map in m/s,
clamped to the data's velocity range, simulated on the batch's device) plus ``velocity_weight`` x the velocity loss
(the ``loss`` group, OpenFWI's L1 + L2 on normalized maps) of the batch's labelled samples. Which samples are labelled
is fixed for the run: ``labelled_fraction`` of the training split, drawn by sample index with ``data.subset_seed``
(``fwilab.data.openfwi.OpenFWIDataset``); the velocity of any other training sample is never read, its map arrives
as NaN (``UNLABELLED``). With ``labelled_fraction`` 0 no training velocity file is opened: a seismic-only set trains.
"""

from __future__ import annotations

import torch

from fwilab.config.groups import PhysicsObjectiveSettings
from fwilab.config.tasks import TrainSettings
from fwilab.physics.data_loss import SeismicDataLoss
from fwilab.physics.misfit import check_velocity_range
from fwilab.training.batches import TrainBatch
from fwilab.training.objectives.base import Objective, StepTools, apply_update


class Physics(Objective):
    name = "physics"
    needs_velocity = False  # the labelled share's labels only (labelled_share)

    def __init__(self, tools: StepTools, settings: PhysicsObjectiveSettings, data_loss: SeismicDataLoss):
        super().__init__(tools)
        self.settings = settings
        self.data_loss = data_loss

    @classmethod
    def labelled_share(cls, settings: TrainSettings) -> float:
        return settings.objective.labelled_fraction

    @classmethod
    def build(cls, settings: TrainSettings, tools: StepTools) -> Physics:
        """The data loss on the data's velocity range, which the operator must step stably (else one error line)."""
        physics: PhysicsObjectiveSettings = settings.objective
        normalizer = tools.normalizer
        check_velocity_range(normalizer.vel_min, normalizer.vel_max)
        data_loss = SeismicDataLoss(
            (normalizer.vel_min, normalizer.vel_max),
            misfit=physics.misfit,
            frequencies_hz=tuple(physics.frequencies_hz),
            depth_scaling=physics.depth_scaling,
            compress=normalizer.seismic,
            gradient_sampling_interval=physics.gradient_sampling_interval,
        )
        return cls(tools, physics, data_loss)

    def step(self, batch: TrainBatch) -> dict[str, torch.Tensor]:
        """One optimizer step of the model on the data loss of every sample plus the labelled ones' velocity loss."""
        tools, state, settings = self.tools, self.tools.state, self.settings
        inputs = tools.inputs(batch)
        with tools.fast.autocast(inputs.device):
            predicted = tools.replica(inputs)
        cutoff = self.data_loss.band(state.step, tools.total_steps)
        velocity_ms = tools.normalizer.velocity_to_ms(predicted.float())
        data = self.data_loss.per_sample(velocity_ms, batch.seismic, cutoff).mean()
        loss, losses = settings.data_weight * data, {"data": data.detach()}
        if settings.labelled_fraction > 0 and batch.velocity is not None:
            labelled = ~batch.velocity.flatten(1).isnan().any(dim=1)
            if labelled.any():
                target = tools.normalizer.velocity(batch.velocity[labelled])
                velocity = tools.velocity_loss(predicted[labelled].float(), target)
                loss = loss + settings.velocity_weight * velocity
                losses["velocity"] = velocity.detach()
        admitted = apply_update(tools, state.optimizer, loss, state.model.parameters(), tools.grad_clip_norm)
        state.scaler.update()
        state.scheduler.step()
        return {"loss": loss.detach(), **losses} if admitted else {}
