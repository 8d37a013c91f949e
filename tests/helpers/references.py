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
