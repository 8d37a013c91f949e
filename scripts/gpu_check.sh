#!/usr/bin/env bash
# One command on a CUDA machine, no network needed: the GPU tests, the side-by-side benchmark
# (OpenFWI-style loop vs each configuration, batch 256, snapshots every 100 steps, deepwave on CUDA)
# and a short end-to-end train.py on generated data, in one report:
#   bash scripts/gpu_check.sh [WHEELS_DIR]
# WHEELS_DIR (or $FWILAB_WHEELS) holds what the machine lacks, e.g. made elsewhere with
#   pip download -d wheels hydra-core 'omegaconf<2.4' wandb torch-optimizer pytest scikit-image
#   pip download -d wheels --no-deps --no-binary :all: deepwave==0.1.0     # the 1.2 MB sdist
# deepwave is built from its sdist for this GPU's architecture only when it is not importable.
# Writes outputs/gpu_check/<date>_<time>/gpu_report.json and gpu_report.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
wheels="${1:-${FWILAB_WHEELS:-}}"
out="outputs/gpu_check/$(date +%Y-%m-%d_%H-%M-%S)"

if ! "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "error: no CUDA GPU visible to $python (no torch, or torch.cuda.is_available() is False); run this on a GPU machine (PYTHON=... picks the interpreter)" >&2
    exit 1
fi
mkdir -p "$out"
if [ -n "$wheels" ]; then
    "$python" -m pip install --quiet --no-index --find-links "$wheels" hydra-core 'omegaconf<2.4' wandb torch-optimizer pytest scikit-image
fi
"$python" -m pip install --quiet --no-deps --no-build-isolation -e .

build_seconds=null
if ! "$python" -c "import deepwave" 2>/dev/null; then
    sdist="$(ls "${wheels:-.}"/deepwave-*.tar.gz 2>/dev/null | head -n 1)"
    if [ -z "$sdist" ]; then
        echo "error: deepwave is not installed and no deepwave-*.tar.gz sdist is in '${wheels:-.}'" >&2
        exit 1
    fi
    arch="$("$python" -c "import torch; major, minor = torch.cuda.get_device_capability(); print(f'{major}{minor}')")"
    started=$(date +%s)
    "$python" -m pip wheel --no-deps --no-build-isolation -w "$out/wheels" "-Ccmake.define.DW_CUDA_ARCHITECTURES=${arch}-real" "$sdist"
    build_seconds=$(( $(date +%s) - started ))
    "$python" -m pip install --quiet --no-deps "$out"/wheels/deepwave-*.whl
fi

set +e
"$python" -m pytest -m gpu -q -rs -p no:cacheprovider --junitxml="$out/gpu_tests.xml" tests/gpu/test_gpu.py > "$out/gpu_tests.log" 2>&1
"$python" scripts/benchmark.py device=cuda "hydra.run.dir=$out/benchmark" > "$out/benchmark.out" 2>&1
FWILAB_DATA_DIR="$out/cache" "$python" scripts/train.py data.synthetic.n_train=512 data.synthetic.n_val=64 \
    trainer.max_steps=200 trainer.batch_size=64 logger=none "hydra.run.dir=$out/train" > "$out/train.out" 2>&1
set -e
"$python" -c "import sys; from fwilab.benchmarking import write_gpu_report; write_gpu_report(sys.argv[1], sys.argv[2])" "$out" "$build_seconds"
cat "$out/gpu_report.md"
