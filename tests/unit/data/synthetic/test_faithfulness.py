"""The statistics that compare generated maps with real OpenFWI maps, on maps built by hand."""

import numpy as np
import pytest

from fwilab.data.synthetic.faithfulness import (
    compare_with_targets,
    dominant_velocities,
    family_statistics,
    first_interface_relief,
    interface_spread,
    measured_depth_range,
    monotonic_share,
)


def layered(depths: list[int], velocities: list[float]) -> np.ndarray:
    """A 70 x 70 map with flat, sharp interfaces at the given rows."""
    m = np.full((70, 70), velocities[0], dtype=np.float32)
    for depth, velocity in zip(depths, velocities[1:]):
        m[depth:] = velocity
    return m


def test_spread_counts_rows_of_a_sharp_a_blended_and_a_merged_jump():
    sharp = layered([20], [2000, 3000])
    blended = sharp.copy()
    blended[19, :], blended[20, :] = 2300, 2800  # 2000 -> 2300 -> 2800 -> 3000: three row-to-row changes
    merged = layered([20, 22], [2000, 3000, 3500])  # changes at rows 19/20 and 21/22, one quiet row between
    merged[20:22] = 3000
    merged[21] = 3200
    assert interface_spread(sharp[None]) == {"1": 1.0, "2": 0.0, "3": 0.0, "4+": 0.0}
    assert interface_spread(blended[None])["3"] == 1.0
    assert interface_spread(merged[None]) == {"1": 0.0, "2": 0.0, "3": 1.0, "4+": 0.0}
    assert interface_spread(np.stack([sharp, blended]))["1"] == pytest.approx(0.5)


def test_relief_is_the_first_interface_depth_range_across_columns():
    m = layered([30], [2000, 3000])
    for x in range(70):
        m[10 + x // 10 :, x] = np.where(np.arange(10 + x // 10, 70) >= 30, 3000, 2500)  # first interface 10..16
    assert first_interface_relief(m[None]) == {"p10": 6.0, "p50": 6.0, "p90": 6.0}
    assert first_interface_relief(layered([30], [2000, 3000])[None])["p50"] == 0.0


def test_dominant_velocities_skip_values_that_cover_one_row_or_less():
    m = layered([20, 40], [2000, 2500, 3000])
    m[20] = 2250  # a blended row: 70 pixels, not a layer
    m[60, :35] = 2750  # half a row
    assert dominant_velocities(m[None]) == {"p10": 3.0, "p90": 3.0}


def test_monotonic_share_reads_the_centre_column():
    increasing = layered([20, 40], [2000, 2500, 3000])
    inverted = layered([20, 40], [2000, 3000, 2500])
    off_centre = increasing.copy()
    off_centre[50:, 10] = 1500  # a slow patch away from column 35 does not count
    assert monotonic_share(np.stack([increasing, inverted, off_centre])) == pytest.approx(2 / 3)


def test_rows_flag_values_outside_their_bounds_and_families_without_targets():
    maps = np.stack([layered([20, 40, 60], [1600, 2500, 3000, 3900])] * 20)
    rows = {row["statistic"]: row for row in compare_with_targets("curvefault_a", family_statistics(maps))}
    assert rows["interface_spread.1"]["within"] is False  # sharp steps, where real maps blend over 3 rows
    assert rows["dominant_velocities.p90"]["within"] is True
    assert rows["top_row_velocity.median"]["generated"] == 1600.0
    other = compare_with_targets("style_a", family_statistics(maps))
    assert all(row["real"] is None and row["within"] is None for row in other)


def test_the_measured_depth_range_is_curvefault_as_real_row_medians_and_none_elsewhere():
    assert measured_depth_range("curvefault_a") == (1924.0, 4038.0)  # README, Synthetic data: 1924 / 4038 m/s
    assert measured_depth_range("flatvel_b") is None
