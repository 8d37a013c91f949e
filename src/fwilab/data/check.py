"""Check a data set's samples before training: NaN/Inf, velocity outside its range, seismic far outside the
normalization range, files shared between train and validation.

Every sample a run uses is read once, one at a time (memory stays flat), and reduced to four numbers
(seismic min / max, velocity min / max; NaN and Inf survive a min or max); a sample whose label the run does
not read (a seismic-only or partly labelled split) to its seismic two, its velocity file left unopened. The
numbers of each file are cached in ``fwilab.io.cache_dir()/checks/`` under its path, size and modification
time, never beside the data, so a rerun reads no sample again. ``data.check`` decides what a
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
CACHE_VERSION = 2  # 2: one scan per file (a seismic-only or partly labelled split reads no other labels)
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
    """Per-sample (min, max) of the rows of one file read so far, and for a seismic file a hash of its first sample
    (a copy of a file under another name has the same)."""

    rows: dict[int, list[float]]
    first_sample_sha256: str


def _cache_file(path: Path) -> Path:
    stat = path.stat()
    key = [CACHE_VERSION, str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    return cache_dir() / "checks" / f"{hashlib.sha256(json.dumps(key).encode()).hexdigest()}.json"


def _read_cached(path: Path) -> Scan | None:
    try:
        saved = json.loads(path.read_text())
        return Scan({int(row): values for row, values in saved["rows"].items()}, saved["first_sample_sha256"])
    except (OSError, ValueError, KeyError):
        return None


def _scan_file(path: Path, array: np.ndarray, rows: np.ndarray, hashed: bool) -> tuple[Scan, int]:
    """The file's Scan covering ``rows`` (from the cache where it has them; ``hashed``: and its first sample's hash),
    and the bytes read for it."""
    cache_file = _cache_file(path)
    scan = _read_cached(cache_file) or Scan({}, "")
    missing = [int(row) for row in rows if int(row) not in scan.rows]
    if hashed and not scan.first_sample_sha256:
        missing = sorted({0, *missing})
    if not missing:
        return scan, 0
    for row in missing:
        sample = read_sample(path, array, row)
        scan.rows[row] = [float(sample.min()), float(sample.max())]
        if hashed and row == 0:
            scan.first_sample_sha256 = hashlib.sha256(sample).hexdigest()
    try:
        write_json(cache_file, {"rows": scan.rows, "first_sample_sha256": scan.first_sample_sha256})
    except OSError as error:
        log.warning("cannot cache the data check in %s (%s): the next run scans again", cache_file, error.strerror)
    return scan, len(missing) * array[0].nbytes


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
    split: str,
    pair: FilePair,
    seismic_numbers: dict[int, list[float]],
    velocity_numbers: dict[int, list[float]],
    normalizer: Normalizer,
) -> list[Finding]:
    """What is wrong with the used samples of one pair (per row: seismic min / max, and velocity min / max of the
    labelled rows), one Finding per file and kind of problem."""
    findings = []
    tables = {}
    for path, numbers in ((pair.seismic, seismic_numbers), (pair.velocity, velocity_numbers)):
        rows = np.array(sorted(numbers), dtype=np.int64)
        values = np.array([numbers[row] for row in rows], dtype=np.float64).reshape(-1, 2)
        tables[path] = rows, values, np.isfinite(values).all(axis=1)
        if not tables[path][2].all():
            bad = rows[~tables[path][2]].tolist()
            findings.append(
                Finding(f"data check ({split}): {path} {_samples(bad, len(rows))}: NaN or Inf values", True)
            )
    rows, values, finite = tables[pair.velocity]
    span = normalizer.vel_max - normalizer.vel_min
    low_limit, high_limit = normalizer.vel_min - VELOCITY_SLACK * span, normalizer.vel_max + VELOCITY_SLACK * span
    outside = finite & ((values[:, 0] < low_limit) | (values[:, 1] > high_limit))
    if outside.any():
        low, high = values[outside, 0].min(), values[outside, 1].max()
        findings.append(
            Finding(
                f"data check ({split}): {pair.velocity} {_samples(rows[outside].tolist(), len(rows))}: velocity "
                f"{low:g} .. {high:g}, outside {normalizer.vel_min:g} .. {normalizer.vel_max:g} m/s: "
                f"{_velocity_cause(low, high)}",
                False,
                KM_PER_S if low >= 0 and high < KM_PER_S_BELOW else "",
            )
        )
    rows, values, finite = tables[pair.seismic]
    total = len(rows)
    bound = max(abs(normalizer.data_min), abs(normalizer.data_max))
    peaks = np.abs(values).max(axis=1)
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
        pieces = zip(dataset.pairs, dataset.rows_by_file(), dataset.labelled_rows_by_file())
        for index, (pair, rows, labelled_rows) in enumerate(pieces):
            seismic_array, velocity_array = dataset.mapped(index)
            scan, size = _scan_file(pair.seismic, seismic_array, rows, hashed=True)
            velocity_numbers = {}
            if len(labelled_rows):
                labels, labels_size = _scan_file(pair.velocity, velocity_array, labelled_rows, hashed=False)
                velocity_numbers = {int(row): labels.rows[int(row)] for row in labelled_rows}
                size += labels_size
            read, cached, samples = read + size, cached + (size == 0), samples + len(rows)
            scanned[split].append((pair, scan))
            used = {int(row): scan.rows[int(row)] for row in rows}
            per_pair.append(_file_findings(split, pair, used, velocity_numbers, normalizer))
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
