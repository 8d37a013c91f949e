"""Independent references the tests compare fwilab against: written from the papers and OpenFWI's code, not
from fwilab's."""

import argparse

import numpy as np
import torch


def hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al.'s definition, written independently: HSIC with the centering matrix H = I - 11ᵀ/n."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n

    def hsic(a, b):
        return np.trace(a @ h @ b @ h) / (n - 1) ** 2

    gram_x, gram_y = x @ x.T, y @ y.T
    return hsic(gram_x, gram_y) / np.sqrt(hsic(gram_x, gram_x) * hsic(gram_y, gram_y))


# OpenFWI network.py's module names, in order, with the shape of each block's conv weight.
OPENFWI_INVERSIONNET = {
    "convblock1": (32, 5, 7, 1),
    "convblock2_1": (64, 32, 3, 1),
    "convblock2_2": (64, 64, 3, 1),
    "convblock3_1": (64, 64, 3, 1),
    "convblock3_2": (64, 64, 3, 1),
    "convblock4_1": (128, 64, 3, 1),
    "convblock4_2": (128, 128, 3, 1),
    "convblock5_1": (128, 128, 3, 3),
    "convblock5_2": (128, 128, 3, 3),
    "convblock6_1": (256, 128, 3, 3),
    "convblock6_2": (256, 256, 3, 3),
    "convblock7_1": (256, 256, 3, 3),
    "convblock7_2": (256, 256, 3, 3),
    "convblock8": (512, 256, 8, 9),
    "deconv1_1": (512, 512, 5, 5),
    "deconv1_2": (512, 512, 3, 3),
    "deconv2_1": (512, 256, 4, 4),
    "deconv2_2": (256, 256, 3, 3),
    "deconv3_1": (256, 128, 4, 4),
    "deconv3_2": (128, 128, 3, 3),
    "deconv4_1": (128, 64, 4, 4),
    "deconv4_2": (64, 64, 3, 3),
    "deconv5_1": (64, 32, 4, 4),
    "deconv5_2": (32, 32, 3, 3),
    "deconv6": (1, 32, 3, 3),
}


LEGACY = {"deconv6": "Conv2DwithBN_Tanh", "deconv1_1": "Deconv2DwithBN"}  # older OpenFWI releases' Sequential names


def openfwi_state_dict(legacy: bool) -> dict[str, torch.Tensor]:
    """Weights under OpenFWI's InversionNet names (``legacy``: older releases' Sequential names), seeded."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for block, shape in OPENFWI_INVERSIONNET.items():
        sequential = (
            LEGACY.get(
                block, "Deconv2DwithBN" if block.startswith("deconv") and block.endswith("_1") else "Conv2DwithBN"
            )
            if legacy
            else "layers"
        )
        out_channels = shape[1] if block.startswith("deconv") and block.endswith("_1") else shape[0]
        prefix = f"{block}.{sequential}"
        state[f"{prefix}.0.weight"] = 0.02 * torch.randn(shape, generator=generator)
        state[f"{prefix}.0.bias"] = torch.zeros(out_channels)
        state[f"{prefix}.1.weight"] = torch.ones(out_channels)
        state[f"{prefix}.1.bias"] = torch.zeros(out_channels)
        state[f"{prefix}.1.running_mean"] = torch.zeros(out_channels)
        state[f"{prefix}.1.running_var"] = torch.ones(out_channels)
        state[f"{prefix}.1.num_batches_tracked"] = torch.tensor(7)
    return state


def write_openfwi_checkpoint(path, legacy: bool = False) -> dict[str, torch.Tensor]:
    """A checkpoint at ``path`` pickled as OpenFWI's train.py saves one; returns its weights."""
    model = openfwi_state_dict(legacy)
    args = argparse.Namespace(
        model="InversionNet", dataset="curvefault-a", lr=1e-4, lr_milestones=[], epochs=120, resume=None
    )
    torch.save(
        {
            "model": model,
            "optimizer": {"state": {}, "param_groups": []},
            "lr_scheduler": {"last_epoch": 5},
            "epoch": 3,
            "step": 120,
            "args": args,
        },
        path,
    )
    return model


class OpenFWIConvBlock(torch.nn.Module):
    """OpenFWI network.py's ConvBlock with its defaults (3x3, stride 1, padding 1, BatchNorm, LeakyReLU 0.2)."""

    def __init__(self, in_fea, out_fea, kernel_size=3, stride=1, padding=1):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Conv2d(in_fea, out_fea, kernel_size=kernel_size, stride=stride, padding=padding),
            torch.nn.BatchNorm2d(out_fea),
            torch.nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x):
        return self.layers(x)


class OpenFWIDiscriminator(torch.nn.Module):
    """OpenFWI network.py's Discriminator, written from its layer list (dim1..dim4 = 32, 64, 128, 256)."""

    def __init__(self, dim1=32, dim2=64, dim3=128, dim4=256):
        super().__init__()
        self.convblock1_1 = OpenFWIConvBlock(1, dim1, stride=2)
        self.convblock1_2 = OpenFWIConvBlock(dim1, dim1)
        self.convblock2_1 = OpenFWIConvBlock(dim1, dim2, stride=2)
        self.convblock2_2 = OpenFWIConvBlock(dim2, dim2)
        self.convblock3_1 = OpenFWIConvBlock(dim2, dim3, stride=2)
        self.convblock3_2 = OpenFWIConvBlock(dim3, dim3)
        self.convblock4_1 = OpenFWIConvBlock(dim3, dim4, stride=2)
        self.convblock4_2 = OpenFWIConvBlock(dim4, dim4)
        self.convblock5 = OpenFWIConvBlock(dim4, 1, kernel_size=5, padding=0)

    def forward(self, x):
        for name in ("1_1", "1_2", "2_1", "2_2", "3_1", "3_2", "4_1", "4_2"):
            x = getattr(self, f"convblock{name}")(x)
        x = self.convblock5(x)
        return x.view(x.shape[0], -1)


def write_openfwi_gan_checkpoint(path) -> tuple[dict[str, torch.Tensor], OpenFWIDiscriminator]:
    """A checkpoint at ``path`` pickled as OpenFWI's gan_train.py saves one (generator ``model``, critic ``model_d``,
    both optimizers and schedules); returns the generator's weights and the critic (seeded, BatchNorm statistics
    moved off their defaults)."""
    generator = openfwi_state_dict(legacy=False)
    torch.manual_seed(1)
    critic = OpenFWIDiscriminator()
    critic.train()
    with torch.no_grad():
        critic(torch.randn(4, 1, 70, 70))  # running statistics unlike a fresh critic's
    args = argparse.Namespace(
        model="InversionNet", model_d="Discriminator", dataset="curvefault-a", n_critic=5, lambda_gp=10.0, resume=None
    )
    torch.save(
        {
            "model": generator,
            "model_d": critic.state_dict(),
            "optimizer_g": {"state": {}, "param_groups": []},
            "optimizer_d": {"state": {}, "param_groups": []},
            "lr_schedulers": [{"last_epoch": 5}, {"last_epoch": 5}],
            "epoch": 3,
            "step": 120,
            "args": args,
        },
        path,
    )
    return generator, critic
