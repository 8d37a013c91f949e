"""VelocityGAN's step: the gradient penalty against a direct computation, the update schedule of gan_train.py (critic
every step, generator at every n_critic-th step of an epoch and at its last), and the settings it refuses."""

import math

import pytest
import torch
from torch import nn

from fwilab.config.groups import VelocityGANSettings
from fwilab.data.transforms import Normalizer
from fwilab.errors import ConfigError
from fwilab.models import Discriminator
from fwilab.training.batches import TrainBatch
from fwilab.training.distributed import DistributedContext
from fwilab.training.fast_path import FastPath
from fwilab.training.guard import NonFiniteGuard
from fwilab.training.losses import WeightedL1L2
from fwilab.training.objectives import StepTools, VelocityGAN
from fwilab.training.objectives.velocitygan import gradient_penalty
from fwilab.training.state import TrainState
from fwilab.training.train_settings import check_train
from helpers import compose_train


def test_the_gradient_penalty_is_the_mean_squared_distance_of_each_samples_input_gradient_norm_from_one():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 6 * 6, 1))
    real, fake = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    torch.manual_seed(7)
    penalty = gradient_penalty(critic, real, fake)
    (through_critic,) = torch.autograd.grad(penalty, critic[0].weight)
    torch.manual_seed(7)  # the same interpolation weights, drawn as the penalty draws them: one per sample
    alpha = torch.rand(4)
    direct = 0.0
    for i in range(4):  # each sample alone: the gradient of its own score with respect to its own input
        point = (alpha[i] * real[i : i + 1] + (1 - alpha[i]) * fake[i : i + 1]).requires_grad_(True)
        (gradient,) = torch.autograd.grad(critic(point).sum(), point, create_graph=True)
        direct = direct + (gradient.pow(2).sum().sqrt() - 1) ** 2 / 4
    torch.testing.assert_close(penalty, direct)
    torch.testing.assert_close(through_critic, torch.autograd.grad(direct, critic[0].weight)[0])


class TinyGenerator(nn.Module):
    """Gathers (N, 5, 4, 3) -> a (N, 1, 70, 70) map in [-1, 1], with BatchNorm as the real networks have."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(60, 70 * 70), nn.BatchNorm1d(70 * 70), nn.Tanh())

    def forward(self, x):
        return self.net(x).view(-1, 1, 70, 70)


def _gan(steps_per_epoch: int, n_critic: int) -> VelocityGAN:
    torch.manual_seed(0)
    model = TinyGenerator()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    state = TrainState(model, optimizer, scheduler, torch.amp.GradScaler("cpu", enabled=False))
    fast = FastPath("fp32", False, False, False, "float32", 0)
    tools = StepTools(
        state,
        model,
        WeightedL1L2(),
        Normalizer(data_min=-1.0, data_max=1.0),
        fast,
        math.inf,
        NonFiniteGuard(0, torch.device("cpu")),
        DistributedContext(),
        steps_per_epoch,
        2 * steps_per_epoch,
    )
    settings = VelocityGANSettings("velocitygan", n_critic, 1e-4, (0.0, 0.9), 1e-4, 10.0, 0.01, None)
    critic = Discriminator(base_channels=4)
    critic_optimizer = torch.optim.AdamW(critic.parameters(), lr=1e-4, betas=(0.0, 0.9))
    critic_scheduler = torch.optim.lr_scheduler.LambdaLR(critic_optimizer, lambda step: 1.0)
    return VelocityGAN(tools, settings, critic, critic_optimizer, critic_scheduler)


def _weights(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters()))


def test_the_critic_updates_every_step_and_the_generator_at_every_n_critic_th_step_of_an_epoch_and_its_last():
    gan = _gan(steps_per_epoch=7, n_critic=5)
    torch.manual_seed(1)
    batch = TrainBatch(torch.rand(2, 5, 4, 3) - 0.5, 1500.0 + 3000.0 * torch.rand(2, 1, 70, 70), torch.arange(2))
    generator_steps = []
    for step in range(1, 15):
        gan.tools.state.step = step
        generator, critic = _weights(gan.tools.state.model), _weights(gan.critic)
        losses = gan.step(batch)
        assert _changed(critic, gan.critic), step
        if _changed(generator, gan.tools.state.model):
            generator_steps.append(step)
            assert {"generator_loss", "adversarial_loss"} <= losses.keys()
        else:
            assert "generator_loss" not in losses
        assert {"velocity_loss", "critic_loss", "wasserstein_distance", "gradient_penalty"} <= losses.keys()
    # gan_train.py: (itr + 1) % n_critic == 0 or itr == last, itr counting from 0 in each epoch of 7 steps
    assert generator_steps == [5, 7, 12, 14]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("objective.n_critic=0", "objective.n_critic=0"),
        ("objective.lambda_gp=-1", "objective.lambda_gp=-1"),
        ("objective.critic_lr=0", "objective.critic_lr=0"),
        ("objective.lambda_adv=-0.5", "objective.lambda_adv=-0.5"),
        ("objective.critic_betas=[0.5]", r"objective.critic_betas=\[0.5\]"),
        ("+objective.n_generator=2", "objective.n_generator is not a setting"),
        ("objective.name=wgan", "objective.name='wgan' is not one of supervised, velocitygan"),
        ("trainer.precision=fp16", "trainer.precision=fp16 with objective=velocitygan"),
    ],
)
def test_settings_out_of_range_are_refused_naming_the_key(override, named):
    with pytest.raises(ConfigError, match=named):
        check_train(compose_train("objective=velocitygan", override))
