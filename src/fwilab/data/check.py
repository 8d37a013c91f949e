"""Check a data set's samples before training: NaN/Inf, velocity outside its range, seismic far outside the
normalization range, files shared between train and validation.

Every sample a run uses is read once, one at a time (memory stays flat), and reduced to four numbers
(seismic min / max, velocity min / max; NaN and Inf survive a min or max). The numbers of each file
pair are cached in ``fwilab.io.cache_dir()/checks/`` under the pair's paths, sizes and modification
times, never beside the data, so a rerun reads no sample again. ``data.check`` decides what a
finding does: ``error`` (default) stops the run on NaN/Inf, train/val overlap and numbers that look like
another unit in every file (a conversion missed for the whole set), and warns about ranges of some files;
``warn`` only warns, ``off`` skips the scan.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fwilab.data.openfwi import FilePair, OpenFWIDataset, read_sample
from fwilab.data.transforms import Normalizer
from fwilab.errors import DataError
from fwilab.io import cache_dir, write_json

log = logging.getLogger(__name__)

SEISMIC_LIMIT = 10.0  # seismic beyond this many times the normalization range's largest magnitude is flagged
VELOCITY_SLACK = 0.01  # share of the velocity range tolerated beyond either end
KM_PER_S_BELOW = 10.0  # a velocity file whose largest value is under this is in km/s
CACHE_VERSION = 1
SHOWN_SAMPLES = 5


@dataclass(frozen=True)
class Finding:
    """One problem of one file; ``fatal`` ones (NaN/Inf, overlap) stop a run under ``data.check=error``.

    ``looks_like``: the unit or scale the file's numbers look like (e.g. "velocity in km/s"); one that every
    file of the set shares stops the run too: a set that is all off trains on nonsense.
    """

    message: str
    fatal: bool
    looks_like: str = ""


@dataclass
class Scan:
    """Per-sample (seismic min, seismic max, velocity min, velocity max) of the rows read so far, and a hash
    of the pair's first sample (a copy of a file under another name has the same)."""

    rows: dict[int, list[float]]
    first_sample_sha256: str


def _cache_file(pair: FilePair) -> Path:
    key = [CACHE_VERSION]
    for path in (pair.seismic, pair.velocity):
        stat = path.stat()
        key += [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    return cache_dir() / "checks" / f"{hashlib.sha256(json.dumps(key).encode()).hexdigest()}.json"


def _read_cached(path: Path) -> Scan | None:
    try:
        saved = json.loads(path.read_text())
        return Scan({int(row): values for row, values in saved["rows"].items()}, saved["first_sample_sha256"])
    except (OSError, ValueError, KeyError):
        return None


def _sample_numbers(pair: FilePair, arrays: tuple[np.ndarray, np.ndarray], row: int) -> tuple[list[float], str]:
    """The four numbers of sample ``row``, and the hash of its bytes for the first sample (else '')."""
    seismic = read_sample(pair.seismic, arrays[0], row)
    velocity = read_sample(pair.velocity, arrays[1], row)
    numbers = [float(seismic.min()), float(seismic.max()), float(velocity.min()), float(velocity.max())]
    if row != 0:
        return numbers, ""
    digest = hashlib.sha256(seismic)
    digest.update(velocity)
    return numbers, digest.hexdigest()


def _scan_pair(pair: FilePair, arrays: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> tuple[Scan, int]:
    """The pair's Scan covering ``rows`` (from the cache where it has them), and the bytes read for it."""
    cache_file = _cache_file(pair)
    scan = _read_cached(cache_file) or Scan({}, "")
    missing = [int(row) for row in rows if int(row) not in scan.rows]
    if not scan.first_sample_sha256:
        missing = sorted({0, *missing})
    if not missing:
        return scan, 0
    for row in missing:
        scan.rows[row], digest = _sample_numbers(pair, arrays, row)
        scan.first_sample_sha256 = digest or scan.first_sample_sha256
    try:
        write_json(cache_file, {"rows": scan.rows, "first_sample_sha256": scan.first_sample_sha256})
    except OSError as error:
        log.warning("cannot cache the data check in %s (%s): the next run scans again", cache_file, error.strerror)
    return scan, len(missing) * (arrays[0][0].nbytes + arrays[1][0].nbytes)


def _samples(rows: list[int], total: int) -> str:
    if len(rows) == 1:
        return f"sample {rows[0]}"
    shown = ", ".join(map(str, rows[:SHOWN_SAMPLES])) + (", ..." if len(rows) > SHOWN_SAMPLES else "")
    return f"samples {shown} ({len(rows)} of {total})"


KM_PER_S = "velocity in km/s (OpenFWI's is in m/s: multiply by 1000)"


def _velocity_cause(low: float, high: float) -> str:
    if low < 0:
        return "negative velocity: a sign error?"
    if high < KM_PER_S_BELOW:
        return "this looks like km/s: OpenFWI velocity is in m/s (multiply by 1000)"
    return "outside the family's range"


def _seismic_scale(ratio: float) -> str:
    """What seismic ``ratio`` times the normalization range's magnitude looks like: scaled by a power of ten."""
    factor = 10 ** round(math.log10(ratio))
    return f"seismic scaled by about {factor:g} (divide by {factor:g}, or set the family's data_min / data_max)"


def _file_findings(
    split: str, pair: FilePair, numbers: dict[int, list[float]], normalizer: Normalizer
) -> list[Finding]:
    """What is wrong with the used samples of one pair, one Finding per file and kind of problem."""
    values = np.array([numbers[row] for row in sorted(numbers)], dtype=np.float64).reshape(-1, 4)
    rows = np.array(sorted(numbers), dtype=np.int64)
    total, findings = len(rows), []
    for path, columns in ((pair.seismic, values[:, :2]), (pair.velocity, values[:, 2:])):
        bad = ~np.isfinite(columns).all(axis=1)
        if bad.any():
            findings.append(
                Finding(f"data check ({split}): {path} {_samples(rows[bad].tolist(), total)}: NaN or Inf values", True)
            )
    finite = np.isfinite(values).all(axis=1)
    span = normalizer.vel_max - normalizer.vel_min
    low_limit, high_limit = normalizer.vel_min - VELOCITY_SLACK * span, normalizer.vel_max + VELOCITY_SLACK * span
    outside = finite & ((values[:, 2] < low_limit) | (values[:, 3] > high_limit))
    if outside.any():
        low, high = values[outside, 2].min(), values[outside, 3].max()
        findings.append(
            Finding(
                f"data check ({split}): {pair.velocity} {_samples(rows[outside].tolist(), total)}: velocity "
                f"{low:g} .. {high:g}, outside {normalizer.vel_min:g} .. {normalizer.vel_max:g} m/s: "
                f"{_velocity_cause(low, high)}",
                False,
                KM_PER_S if low >= 0 and high < KM_PER_S_BELOW else "",
            )
        )
    bound = max(abs(normalizer.data_min), abs(normalizer.data_max))
    peaks = np.abs(values[:, :2]).max(axis=1)
    loud = finite & (peaks > SEISMIC_LIMIT * bound)
    if loud.any():
        peak = peaks[loud].max()
        findings.append(
            Finding(
                f"data check ({split}): {pair.seismic} {_samples(rows[loud].tolist(), total)}: seismic reaches "
                f"{peak:g}, {peak / bound:.0f}x the normalization range {normalizer.data_min:g} .. "
                f"{normalizer.data_max:g} (rescaled data, or another family's constants?)",
                False,
                _seismic_scale(peak / bound),
            )
        )
    return findings


def _overlap(scanned: dict[str, list[tuple[FilePair, Scan]]]) -> list[Finding]:
    """Validation files that are training files: the same resolved path, or the same first sample (a copy)."""
    by_path = {pair.seismic.resolve(): pair for pair, _ in scanned.get("train", [])}
    by_content = {scan.first_sample_sha256: pair for pair, scan in scanned.get("train", [])}
    findings = []
    for pair, scan in scanned.get("val", []):
        if pair.seismic.resolve() in by_path:
            findings.append(Finding(f"data check: {pair.seismic} is in both train and val", True))
        elif scan.first_sample_sha256 in by_content:
            twin = by_content[scan.first_sample_sha256].seismic
            findings.append(
                Finding(f"data check: val file {pair.seismic} begins with the same sample as train file {twin}", True)
            )
    return findings


def _whole_set(per_pair: list[list[Finding]]) -> list[Finding]:
    """A fatal Finding for each unit or scale that the numbers of every file pair look like."""
    shared = set.intersection(*({f.looks_like for f in findings if f.looks_like} for findings in per_pair))
    return [
        Finding(
            f"data check: every file pair of the data set ({len(per_pair)} of {len(per_pair)}) looks like {unit}", True
        )
        for unit in sorted(shared)
    ]


def _report(findings: list[Finding], policy: str) -> None:
    """One log line per finding; under ``error`` a fatal finding stops the run with one line."""
    stop = policy == "error"
    for finding in findings:
        log.log(logging.ERROR if finding.fatal and stop else logging.WARNING, finding.message)
    fatal = [finding for finding in findings if finding.fatal]
    if stop and fatal:
        more = f" (and {len(findings) - 1} more finding(s) in the log)" if len(findings) > 1 else ""
        raise DataError(f"{fatal[0].message}{more}; fix the data, or train anyway with data.check=warn")


def check_data(splits: dict[str, OpenFWIDataset], normalizer: Normalizer, policy: str) -> list[Finding]:
    """Scan the samples ``splits`` use (cached), log what the scan cost and every finding, and apply ``policy`` (one
    of ``fwilab.config.groups.CHECK_POLICIES``: ``data.check``, checked with the settings)."""
    if policy == "off":
        log.info("data check skipped (data.check=off)")
        return []
    started, read, cached, samples = time.perf_counter(), 0, 0, 0
    scanned: dict[str, list[tuple[FilePair, Scan]]] = {}
    per_pair: list[list[Finding]] = []
    for split, dataset in splits.items():
        scanned[split] = []
        for index, (pair, rows) in enumerate(zip(dataset.pairs, dataset.rows_by_file())):
            scan, size = _scan_pair(pair, dataset.mapped(index), rows)
            read, cached, samples = read + size, cached + (size == 0), samples + len(rows)
            scanned[split].append((pair, scan))
            used = {int(row): scan.rows[int(row)] for row in rows}
            per_pair.append(_file_findings(split, pair, used, normalizer))
    findings = [finding for findings_of_pair in per_pair for finding in findings_of_pair]
    findings += _whole_set(per_pair) if per_pair else []
    findings += _overlap(scanned)
    seconds = time.perf_counter() - started
    pairs = sum(map(len, scanned.values()))
    log.info(
        "data check: %d samples of %d file pairs in %.2f s (%.2f GB read, %.2f GB/s; %d pairs from the cache %s): "
        "%d finding(s)",
        samples,
        pairs,
        seconds,
        read / 1e9,
        read / 1e9 / max(seconds, 1e-9),
        cached,
        cache_dir() / "checks",
        len(findings),
    )
    _report(findings, policy)
    return findings
