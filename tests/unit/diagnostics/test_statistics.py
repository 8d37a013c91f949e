"""Representation numbers: checked against independent computations (numpy eigenvalues, HSIC with an explicit
centering matrix) and against the properties that define them."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from scipy.stats import ortho_group
from torch import nn

from fwilab.config.checks import read_group
from fwilab.config.groups import DiagnosticsSettings
from fwilab.data.transforms import Normalizer
from fwilab.diagnostics.snapshots import ActivationSnapshots
from fwilab.diagnostics.statistics import (
    cka_from_grams,
    layer_statistics,
    linear_cka,
    output_activation,
    participation_ratio,
)
from fwilab.errors import ConfigError
from fwilab.models import ConvBlock, DeconvBlock, ReconstructionNet
from helpers import CONF
from helpers.references import hsic_cka


@pytest.fixture
def responses():
    generator = np.random.default_rng(7)
    x = generator.normal(size=(200, 12))
    y = x @ generator.normal(size=(12, 9)) + 0.5 * generator.normal(size=(200, 9))
    return x, y


@pytest.mark.parametrize("features", [(12, 9), (300, 400)])  # feature-space route and Gram route
def test_linear_cka_equals_the_hsic_definition(features):
    generator = np.random.default_rng(3)
    x = generator.normal(size=(50, features[0]))
    y = np.tanh(x @ generator.normal(size=features)) + generator.normal(size=(50, features[1]))
    assert linear_cka(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(hsic_cka(x, y), abs=1e-10)


def test_linear_cka_is_one_for_identical_responses_and_invariant_to_rotation_and_scale(responses):
    x, y = responses
    rotation = ortho_group.rvs(12, random_state=1)
    base = linear_cka(torch.from_numpy(x), torch.from_numpy(y))
    assert linear_cka(torch.from_numpy(x), torch.from_numpy(x)) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(torch.from_numpy(x @ rotation * 7.5), torch.from_numpy(y)) == pytest.approx(base, abs=1e-10)
    assert linear_cka(torch.from_numpy(x + 3.0), torch.from_numpy(y)) == pytest.approx(base, abs=1e-10)
    assert 0.3 < base < 0.99


def test_linear_cka_is_near_zero_for_independent_responses():
    generator = np.random.default_rng(0)
    x, y = generator.normal(size=(5000, 4)), generator.normal(size=(5000, 4))
    assert linear_cka(torch.from_numpy(x), torch.from_numpy(y)) < 0.01


def test_cka_from_grams_matches_features(responses):
    x, y = (torch.from_numpy(a) for a in responses)
    assert cka_from_grams(x @ x.T, y @ y.T) == pytest.approx(linear_cka(x, y), abs=1e-12)


def test_cka_refuses_different_examples():
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(torch.zeros(4, 2), torch.zeros(5, 2))


def test_participation_ratio_equals_the_eigenvalue_definition():
    generator = np.random.default_rng(5)
    a = generator.normal(size=(6, 6)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1, 0.01])
    covariance = a @ a.T
    eigenvalues = np.linalg.eigvalsh(covariance)
    expected = eigenvalues.sum() ** 2 / np.square(eigenvalues).sum()
    assert participation_ratio(torch.from_numpy(covariance)) == pytest.approx(expected, rel=1e-10)
    assert participation_ratio(torch.eye(5)) == pytest.approx(5.0)
    assert participation_ratio(torch.zeros(3, 3)) == 0.0


def test_layer_statistics_of_a_constructed_layer():
    """4 channels: two independent, one copy of the first (no new direction), one dead; positions are examples."""
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 64, 64, generator=generator)
    output = torch.stack([a, b, a, torch.full_like(a, 0.25)])[None]  # (1, 4, 64, 64)
    stats = layer_statistics(output, "leaky_relu")
    rows = output[0].reshape(4, -1).T.double().numpy()
    eigenvalues = np.linalg.eigvalsh(np.cov(rows, rowvar=False))
    assert stats.scalars["effective_rank"] == pytest.approx(
        eigenvalues.sum() ** 2 / np.square(eigenvalues).sum(), rel=1e-5
    )
    assert 1.5 < stats.scalars["effective_rank"] < 2.0  # two directions, one carrying twice the variance
    assert stats.scalars["constant_channel_share"] == 0.25
    assert stats.scalars["mean"] == pytest.approx(float(output.mean()), abs=1e-6)
    assert stats.scalars["std"] == pytest.approx(float(output.std()), rel=1e-5)
    assert stats.scalars["negative_share"] == pytest.approx(float((output < 0).float().mean()))
    assert stats.rows.shape == (2048, 4)
    kept = rows[np.round(np.linspace(0, 64 * 64 - 1, 2048)).astype(int)]
    assert np.array_equal(stats.rows.double().numpy(), kept)  # evenly spaced positions, every channel
    counts, edges = stats.histogram()
    assert sum(counts) == kept.size and len(edges) == len(counts) + 1
    assert edges[0] == pytest.approx(kept.min()) and edges[-1] == pytest.approx(kept.max())


def test_too_few_examples_get_no_rank_and_no_drift():
    """A 1 x 1 bottleneck seen by 2 probe samples: 2 examples, whose centered covariance has rank 1 at most."""
    stats = layer_statistics(torch.randn(2, 8, 1, 1), "leaky_relu")
    assert "effective_rank" not in stats.scalars and {"mean", "std", "negative_share"} <= set(stats.scalars)


def test_saturation_is_measured_after_a_tanh():
    output = torch.tensor([-1.0, -0.995, -0.5, 0.0, 0.9, 0.999, 1.0, 0.2]).reshape(1, 1, 2, 4)
    stats = layer_statistics(output, "tanh")
    assert stats.scalars["saturated_share"] == 0.5 and "negative_share" not in stats.scalars


def test_negative_share_reads_a_relu_output_as_zeros():
    output = torch.tensor([0.0, 0.0, 1.0, 2.0]).reshape(1, 1, 2, 2)
    assert layer_statistics(output, "relu").scalars["negative_share"] == 0.5
    assert layer_statistics(output, "leaky_relu").scalars["negative_share"] == 0.0


def test_output_activation_finds_the_last_activation_of_a_block():
    assert output_activation(ConvBlock(1, 2)) == "leaky_relu"
    assert output_activation(ConvBlock(1, 2, output_tanh=True)) == "tanh"
    assert output_activation(DeconvBlock(2, 1)) == "leaky_relu"
    assert output_activation(nn.Conv2d(1, 1, 1)) == "none"


def _diagnostics(**overrides):
    return OmegaConf.merge(OmegaConf.load(CONF / "diagnostics" / "default.yaml"), overrides)


def test_snapshot_numbers_cover_every_channel_and_follow_the_previous_snapshot():
    torch.manual_seed(0)
    model = ReconstructionNet(base_channels=8)
    probe = torch.randn(2, 5, 1000, 70)
    snapshots = ActivationSnapshots(
        model, probe, torch.full((2, 1, 70, 70), 3000.0), Normalizer(-26.48, 52.32), _diagnostics(max_channels=2)
    )
    layer = "dec.1"  # ConvBlock with 64 channels, of which the pictures keep 2
    seen = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: seen.update(out=o.detach()))
    first = snapshots.review(snapshots.capture(), 1)
    handle.remove()
    rows = seen["out"].movedim(1, -1).reshape(-1, seen["out"].shape[1]).double().numpy()
    eigenvalues = np.linalg.eigvalsh(np.cov(rows, rowvar=False))
    effective_rank = first.scalars[f"activations/{layer}/effective_rank"]
    assert effective_rank == pytest.approx(eigenvalues.sum() ** 2 / np.square(eigenvalues).sum(), rel=1e-4)
    assert effective_rank > 2  # measured on all 64 channels, not the 2 drawn
    assert not any(key.endswith("cka_previous") for key in first.scalars)
    assert first.histograms[f"activations/{layer}/histogram"][0]
    unchanged = snapshots.review(snapshots.capture(), 2)
    drifts = {k: v for k, v in unchanged.scalars.items() if k.endswith("cka_previous")}
    assert "activations/enc.7/cka_previous" not in unchanged.scalars  # 1 x 1 x 2 samples: too few examples
    assert len(drifts) == len(snapshots.recorder.layers) - 1 and all(v == pytest.approx(1.0) for v in drifts.values())
    with torch.no_grad():
        for parameter in model.dec[1].parameters():
            parameter.add_(torch.randn_like(parameter))
    changed = snapshots.review(snapshots.capture(), 3)
    assert changed.scalars[f"activations/{layer}/cka_previous"] < 0.99
    assert changed.scalars["activations/enc.1/cka_previous"] == pytest.approx(1.0)  # upstream of the change
    snapshots.close()


def test_statistics_can_be_switched_off_and_are_validated():
    torch.manual_seed(0)
    snapshots = ActivationSnapshots(
        ReconstructionNet(base_channels=8),
        torch.randn(2, 5, 1000, 70),
        torch.full((2, 1, 70, 70), 3000.0),
        Normalizer(-26.48, 52.32),
        _diagnostics(statistics=False),
    )
    review, _ = snapshots.take()
    assert review.images and not review.scalars and not review.histograms
    snapshots.close()
    with pytest.raises(ConfigError, match="diagnostics.statistics='yes' must be true or false"):
        read_group("diagnostics", _diagnostics(statistics="yes"), DiagnosticsSettings)
