#!/usr/bin/env bash
# One command from a fresh machine: builds .venv (once, or again when pyproject.toml changes),
# then runs what was asked.
#   bash scripts/bootstrap.sh train [hydra overrides...]   # default training job, data generated on first use
#   bash scripts/bootstrap.sh test  [pytest args...]       # ruff, then the test suite (what CI runs)
# FWILAB_TORCH pins the torch build installed into a new venv (default: torch==2.13.0, the tested CPU build);
# set it empty to let pip pick any torch that satisfies pyproject.toml.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${FWILAB_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

stamp="$venv/.fwilab-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    if ! "$venv/bin/python" -c "import torch" 2>/dev/null && [ -n "${FWILAB_TORCH-torch==2.13.0}" ]; then
        "$venv/bin/python" -m pip install --quiet "${FWILAB_TORCH-torch==2.13.0}"
    fi
    "$venv/bin/python" -m pip install --quiet -e ".[dev]"
    echo "$want" > "$stamp"
fi

cmd="${1:-}"
shift || true
case "$cmd" in
    train) exec "$venv/bin/python" scripts/train.py "$@" ;;
    test)  # the review-page test drives Debian's Chromium; installed here when missing (root with apt-get), else it skips
        if ! { command -v chromium && command -v chromedriver; } >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >/dev/null 2>&1 \
                || echo "bootstrap: could not install chromium + chromium-driver; the review-page browser test will skip" >&2
        fi
        # lint and format check first (seconds), then the suite
        "$venv/bin/ruff" check --quiet .
        "$venv/bin/ruff" format --check --quiet .
        exec "$venv/bin/python" -m pytest "$@" ;;
    *) echo "usage: bash scripts/bootstrap.sh train [overrides...] | test [pytest args...]" >&2; exit 2 ;;
esac
