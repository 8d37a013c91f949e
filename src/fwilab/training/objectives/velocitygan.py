"""VelocityGAN (OpenFWI's ``gan_train.py``): the model is the generator, OpenFWI's ``Discriminator`` a Wasserstein
critic trained with a gradient penalty (WGAN-GP, Gulrajani et al. 2017).

Every step updates the critic once on the batch: its loss is ``mean D(fake) - mean D(real) + lambda_gp * GP``, the
real maps the batch's normalized labels, the fake ones the generator's (no gradient into it), GP the penalty on the
critic's gradient norm at random points between them. At every ``n_critic``-th step of an epoch, and at an epoch's
last step, the generator is updated too, on the velocity loss plus ``lambda_adv`` x its adversarial loss
``-mean D(G(x))`` (``gan_train.py``'s ``train_one_epoch`` schedule). The critic, its optimizer and its schedule are
checkpoint parts; under data parallelism its gradients are averaged over the ranks by hand (OpenFWI moved to apex's
DDP because torch's failed on the penalty's double backward), its BatchNorm statistics stay each rank's own (the
critic always runs in train mode, so they never enter a score).
"""

from __future__ import annotations

import logging
import math
import warnings

import torch
from hydra.utils import instantiate
from torch import nn

from fwilab.config.groups import VelocityGANSettings
from fwilab.config.tasks import TrainSettings
from fwilab.errors import ConfigError
from fwilab.models import Discriminator
from fwilab.training.batches import TrainBatch
from fwilab.training.checkpoint import Stateful, load_model_weights, read_saved_critic
from fwilab.training.objectives.base import Objective, StepTools, apply_update

log = logging.getLogger(__name__)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's penalty: the mean over the batch of (||grad_x D(x)||_2 - 1)^2 at x = a real + (1 - a) fake, one
    uniform a per sample, kept in the graph so that the critic's loss differentiates it."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    between = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(between)
    (gradient,) = torch.autograd.grad(scores, between, torch.ones_like(scores), create_graph=True)
    return ((gradient.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def generator_updates(step: int, steps_per_epoch: int, n_critic: int) -> bool:
    """Whether run step ``step`` (1-based) updates the generator: the ``n_critic``-th steps of an epoch and its last."""
    in_epoch = (step - 1) % steps_per_epoch
    return (in_epoch + 1) % n_critic == 0 or in_epoch == steps_per_epoch - 1


class VelocityGAN(Objective):
    name = "velocitygan"
    needs_velocity = True

    def __init__(
        self,
        tools: StepTools,
        settings: VelocityGANSettings,
        critic: nn.Module,
        critic_optimizer: torch.optim.Optimizer,
        critic_scheduler: torch.optim.lr_scheduler.LRScheduler,
    ):
        super().__init__(tools)
        self.settings = settings
        self.critic = critic
        self.critic_optimizer = critic_optimizer
        self.critic_scheduler = critic_scheduler

    @classmethod
    def check(cls, settings: TrainSettings) -> None:
        if settings.trainer.precision == "fp16":
            raise ConfigError(
                "trainer.precision=fp16 with objective=velocitygan: the gradient penalty's double backward is not "
                "loss-scaled; use bf16 or fp32"
            )

    @classmethod
    def build(cls, settings: TrainSettings, tools: StepTools) -> VelocityGAN:
        """OpenFWI's critic beside the model, with its own AdamW and the run's schedule (``settings.scheduler``)."""
        gan: VelocityGANSettings = settings.objective
        critic = Discriminator()
        if gan.critic_init_from:
            load_model_weights(critic, read_saved_critic(gan.critic_init_from), gan.critic_init_from)
            log.info("critic weights from %s", gan.critic_init_from)
        critic = critic.to(tools.context.device, memory_format=tools.memory_format)
        optimizer = torch.optim.AdamW(
            critic.parameters(),
            lr=gan.critic_lr,
            betas=tuple(float(beta) for beta in gan.critic_betas),  # torch refuses an int (YAML's 0) beside a float
            weight_decay=gan.critic_weight_decay,
        )
        scheduler = instantiate(settings.scheduler, _convert_="all")(optimizer, total_steps=tools.total_steps)
        return cls(tools, gan, critic, optimizer, scheduler)

    def parts(self) -> dict[str, Stateful]:
        return {
            "critic": self.critic,
            "critic_optimizer": self.critic_optimizer,
            "critic_scheduler": self.critic_scheduler,
        }

    def step(self, batch: TrainBatch) -> dict[str, torch.Tensor]:
        """The critic's update, then the generator's when the schedule says (``generator_updates``)."""
        tools, state = self.tools, self.tools.state
        inputs = tools.inputs(batch)
        real = tools.normalizer.velocity(batch.velocity).contiguous(memory_format=tools.memory_format)
        with torch.no_grad(), tools.fast.autocast(inputs.device):
            fake = tools.replica(inputs)
            velocity_loss = tools.velocity_loss(fake, real)
        with tools.fast.autocast(inputs.device):
            penalty = gradient_penalty(self.critic, real, fake.float())
            distance = self.critic(real).mean() - self.critic(fake).mean()
            critic_loss = -distance + self.settings.lambda_gp * penalty
        admitted = self._update_critic(critic_loss)
        losses = {
            "velocity_loss": velocity_loss,
            "critic_loss": critic_loss.detach(),
            "wasserstein_distance": distance.detach(),
            "gradient_penalty": penalty.detach(),
        }
        if admitted and generator_updates(state.step, tools.steps_per_epoch, self.settings.n_critic):
            self.critic.requires_grad_(False)  # the generator's backward needs no critic weight gradients
            with tools.fast.autocast(inputs.device):
                prediction = tools.replica(inputs)
                adversarial = -self.critic(prediction).mean()
                generator_loss = tools.velocity_loss(prediction, real) + self.settings.lambda_adv * adversarial
            admitted &= apply_update(
                tools, state.optimizer, generator_loss, state.model.parameters(), tools.grad_clip_norm
            )
            self.critic.requires_grad_(True)
            losses.update(generator_loss=generator_loss.detach(), adversarial_loss=adversarial.detach())
        state.scaler.update()
        with warnings.catch_warnings():  # the model's schedule runs by step, its optimizer steps every n_critic-th
            warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step")
            state.scheduler.step()
        self.critic_scheduler.step()
        return losses if admitted else {}

    def _update_critic(self, loss: torch.Tensor) -> bool:
        """The critic's step (its gradients averaged over the ranks first), through the divergence guard."""
        tools, optimizer = self.tools, self.critic_optimizer
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        context = tools.context
        if context.active:
            for parameter in self.critic.parameters():
                parameter.grad = context.all_reduce_sum(parameter.grad) / context.world_size
        grad_norm = torch.nn.utils.clip_grad_norm_(self.critic.parameters(), math.inf)
        admitted = tools.guard.admit(tools.state.step, loss.detach(), grad_norm, optimizer.param_groups[0]["lr"])
        if admitted:
            optimizer.step()
        return admitted
