"""Arrays to RGB pictures: channel montages, PCA-to-RGB synthesis and velocity panels.

Pure numpy + Pillow, so it can run inside a training loop. Every renderer returns an (H, W, 3)
uint8 array; slices that are constant or hold NaN/Inf render (as a flat or black tile) and are
reported as flags instead of crashing the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.optimize import linear_sum_assignment

from fwilab.config.groups import MONTAGE_NORMALIZATIONS
from fwilab.data_contract import VELOCITY_RANGE
from fwilab.diagnostics.colormaps import apply_colormap, colormap_lut

FLAG_COLOUR = (255, 0, 255)


@dataclass
class Rendered:
    """A picture and what was odd about its input (e.g. 'channel 3: NaN/Inf', 'channel 5: constant')."""

    image: np.ndarray
    flags: list[str] = field(default_factory=list)


def slice_problem(values: np.ndarray) -> str | None:
    """'NaN/Inf' or 'constant' when a slice cannot be normalized honestly, else None."""
    if not np.isfinite(values).all():
        return "NaN/Inf"
    if values.size == 0 or values.max() == values.min():
        return "constant"
    return None


def robust_range(values: np.ndarray, percentile: float = 1.0) -> tuple[float, float]:
    """The [p, 100 - p] percentile range of the finite values; (0, 1) when none are finite."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [percentile, 100.0 - percentile])
    return float(low), float(high)


def _font(size: int = 11) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _upscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else rgb


def render_montage(
    activations: np.ndarray,
    max_channels: int = 16,
    normalization: str = "per_channel",
    colormap: str = "viridis",
    percentile: float = 1.0,
    scale: int = 1,
    labels: bool = True,
) -> Rendered:
    """A grid of the first ``max_channels`` channels of one sample's (C, H, W) activations.

    ``normalization='per_channel'`` stretches each channel's robust range over the colormap, so a
    constant channel is flagged; ``'shared'`` uses one range for all, so channel strengths compare
    and only an all-constant stack is flagged. NaN/Inf tiles are always flagged. Flagged tiles get a
    magenta frame. With ``labels`` each tile shows its channel number.
    """
    if normalization not in MONTAGE_NORMALIZATIONS:
        raise ValueError(f"normalization={normalization!r} is not one of {MONTAGE_NORMALIZATIONS}")
    channels = np.asarray(activations, dtype=np.float64)[:max_channels]
    n, height, width = channels.shape
    columns = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    label_height = 12 if labels else 0
    tile_h, tile_w = height * scale + label_height, width * scale
    canvas = np.full((rows * (tile_h + 1) + 1, columns * (tile_w + 1) + 1, 3), 255, dtype=np.uint8)
    shared = robust_range(channels, percentile)
    flags = []
    if normalization == "shared" and slice_problem(channels) == "constant":
        flags.append("all channels: constant")
    for index, channel in enumerate(channels):
        problem = slice_problem(channel)
        if normalization == "shared" and problem == "constant":
            problem = None
        low, high = robust_range(channel, percentile) if normalization == "per_channel" else shared
        rgb = _upscale(apply_colormap(channel, colormap, low, high), scale)
        top = (index // columns) * (tile_h + 1) + 1 + label_height
        left = (index % columns) * (tile_w + 1) + 1
        canvas[top : top + height * scale, left : left + tile_w] = rgb
        if problem:
            flags.append(f"channel {index}: {problem}")
            canvas[top, left : left + tile_w] = FLAG_COLOUR
            canvas[top + height * scale - 1, left : left + tile_w] = FLAG_COLOUR
            canvas[top : top + height * scale, left] = FLAG_COLOUR
            canvas[top : top + height * scale, left + tile_w - 1] = FLAG_COLOUR
    if labels:
        image = Image.fromarray(canvas)
        draw = ImageDraw.Draw(image)
        for index in range(n):
            top = (index // columns) * (tile_h + 1) + 1
            left = (index % columns) * (tile_w + 1) + 1
            draw.text((left + 1, top), str(index), fill=(0, 0, 0), font=_font(10))
        canvas = np.asarray(image)
    return Rendered(canvas, flags)


@dataclass
class PCABasis:
    """Top-3 principal directions over channels, kept so successive snapshots keep their colours' signs."""

    components: np.ndarray  # (3, C)


def _follow_previous(components: np.ndarray, previous: PCABasis | None) -> np.ndarray:
    """Order and sign the (3, C) components so each colour keeps its meaning from the previous snapshot.

    When two eigenvalues cross, the components swap ranks: each is matched to the previous component
    it correlates with most (in absolute value; an assignment over the 3 x 3 matrix), then its sign
    is fixed to agree. Without a previous basis, each component's largest loading is made positive.
    """
    if previous is None or previous.components.shape != components.shape:
        return components * np.array([np.sign(c[np.argmax(np.abs(c))]) or 1.0 for c in components])[:, None]
    correlation = components @ previous.components.T  # [new, old]
    new_index, old_index = linear_sum_assignment(-np.abs(correlation))
    matched = np.empty_like(components)
    for new, old in zip(new_index, old_index):
        matched[old] = components[new] * (np.sign(correlation[new, old]) or 1.0)
    return matched


def render_pca_rgb(
    activations: np.ndarray, previous: PCABasis | None = None, scale: int = 1, sigmas: float = 2.5
) -> tuple[Rendered, PCABasis]:
    """Project one sample's (C, H, W) activations on their top 3 principal components -> R, G, B.

    Each pixel is a C-vector; the components come from the channel covariance over pixels. Signs
    are fixed so that each component's largest loading is positive, or, given ``previous``, each
    colour follows the previous snapshot's component it matches best (order and sign); each component is scaled by its
    own standard deviation (mean +- ``sigmas`` std -> 0..255), so equal colours mean equal
    deviations in units of that layer's spread. Fewer than 3 channels fill the missing colours with 0.
    """
    values = np.asarray(activations, dtype=np.float64)
    n_channels, height, width = values.shape
    flags = []
    problem = slice_problem(values)
    if problem == "NaN/Inf":
        flags.append("activations: NaN/Inf")
    pixels = np.nan_to_num(values.reshape(n_channels, -1).T, nan=0.0, posinf=0.0, neginf=0.0)
    centred = pixels - pixels.mean(axis=0)
    covariance = centred.T @ centred / max(len(centred) - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1][:3]
    components = _follow_previous(eigenvectors[:, order].T, previous)
    projected = centred @ components.T
    spread = projected.std(axis=0)
    if not np.any(spread > 0):
        flags.append("activations: constant")
    normalized = np.where(spread > 0, projected / (2 * sigmas * np.where(spread > 0, spread, 1.0)) + 0.5, 0.5)
    rgb = np.zeros((height * width, 3), dtype=np.uint8)
    rgb[:, : normalized.shape[1]] = np.round(np.clip(normalized, 0.0, 1.0) * 255).astype(np.uint8)
    return Rendered(_upscale(rgb.reshape(height, width, 3), scale), flags), PCABasis(components)


def _colour_bar(name: str, low: float, high: float, height: int, unit: str) -> Image.Image:
    bar = colormap_lut(name)[::-1][np.linspace(0, 255, height).astype(int)]
    strip = np.repeat(bar[:, None, :], 12, axis=1)
    image = Image.new("RGB", (64, height), "white")
    image.paste(Image.fromarray(strip), (0, 0))
    draw = ImageDraw.Draw(image)
    draw.text((14, 0), f"{high:.4g}", fill="black", font=_font(10))
    draw.text((14, height // 2 - 6), f"{(low + high) / 2:.4g}", fill="black", font=_font(10))
    draw.text((14, height - 12), f"{low:.4g}", fill="black", font=_font(10))
    draw.text((14, height - 24), unit, fill="black", font=_font(10))
    return image


@dataclass(frozen=True)
class Panel:
    """One titled map of a picture row, coloured with ``colormap`` over [low, high] and drawn with a colour bar."""

    title: str
    values: np.ndarray
    colormap: str
    low: float
    high: float
    unit: str


def symmetric_limit(values: np.ndarray) -> float:
    """The largest finite |value| (1 when there is none or it is 0): a diverging scale centred on 0."""
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def render_panel_row(panels: list[Panel], height: int, width: int) -> np.ndarray:
    """Panels side by side, each resized to height x width pixels (nearest when enlarging, so cells stay
    sharp; bilinear when shrinking a long record), with its title above and its colour bar beside it."""
    canvas = Image.new("RGB", (len(panels) * (width + 64 + 8), height + 16), "white")
    draw = ImageDraw.Draw(canvas)
    for index, panel in enumerate(panels):
        left = index * (width + 64 + 8)
        rgb = Image.fromarray(apply_colormap(panel.values, panel.colormap, panel.low, panel.high))
        resample = Image.NEAREST if height >= panel.values.shape[0] else Image.BILINEAR
        draw.text((left, 0), panel.title, fill="black", font=_font(11))
        canvas.paste(rgb.resize((width, height), resample), (left, 16))
        canvas.paste(_colour_bar(panel.colormap, panel.low, panel.high, height, panel.unit), (left + width + 4, 16))
    return np.asarray(canvas)


def render_velocity_panel(
    prediction: np.ndarray, target: np.ndarray, vel_range: tuple[float, float] = VELOCITY_RANGE, scale: int = 3
) -> Rendered:
    """Prediction | ground truth | error (prediction - truth), all in m/s, each with a colour bar."""
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    error = prediction - target
    flags = [
        f"{name}: {problem}"
        for name, array in (("prediction", prediction), ("truth", target))
        if (problem := slice_problem(array)) == "NaN/Inf"
    ]
    limit = symmetric_limit(error)
    panels = [
        Panel("prediction", prediction, "velocity", *vel_range, "m/s"),
        Panel("ground truth", target, "velocity", *vel_range, "m/s"),
        Panel("error", error, "seismic", -limit, limit, "m/s"),
    ]
    return Rendered(render_panel_row(panels, prediction.shape[0] * scale, prediction.shape[1] * scale), flags)


def render_gather_comparison(observed: np.ndarray, simulated: np.ndarray, label: str = "predicted") -> np.ndarray:
    """Observed | simulated | difference of one shot gather (time down, receivers across) on one colour scale.

    The scale is the 99th percentile of |observed|, so reflections stay visible beside the direct wave
    and a difference as strong as the data shows as strongly.
    """
    observed = np.asarray(observed, dtype=np.float64)
    simulated = np.asarray(simulated, dtype=np.float64)
    clip = float(np.percentile(np.abs(observed), 99)) or 1.0
    panels = [
        Panel("observed", observed, "seismic", -clip, clip, ""),
        Panel(label, simulated, "seismic", -clip, clip, ""),
        Panel(f"{label} - observed", simulated - observed, "seismic", -clip, clip, ""),
    ]
    return render_panel_row(panels, 300, 140)


def render_refinement(
    truth: np.ndarray,
    start: np.ndarray,
    refined: np.ndarray,
    vel_range: tuple[float, float] = VELOCITY_RANGE,
    scale: int = 3,
) -> np.ndarray:
    """Truth | start | refined | start - truth | refined - truth, in m/s; both errors share one scale, so a
    refinement that helps shows as a paler last panel."""
    truth, start, refined = (np.asarray(a, dtype=np.float64) for a in (truth, start, refined))
    limit = max(symmetric_limit(start - truth), symmetric_limit(refined - truth))
    panels = [
        Panel("truth", truth, "velocity", *vel_range, "m/s"),
        Panel("start", start, "velocity", *vel_range, "m/s"),
        Panel("refined", refined, "velocity", *vel_range, "m/s"),
        Panel("start - truth", start - truth, "seismic", -limit, limit, "m/s"),
        Panel("refined - truth", refined - truth, "seismic", -limit, limit, "m/s"),
    ]
    return render_panel_row(panels, truth.shape[0] * scale, truth.shape[1] * scale)
