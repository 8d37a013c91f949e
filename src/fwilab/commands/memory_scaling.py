"""Peak resident memory of a training epoch versus data-set size (random OpenFWI-shaped splits on disk):
`fwilab-memory-scaling 512 2048 8192 [--out DIR] -- [fwilab-train overrides]`. Writes memory_scaling.json."""

import argparse
import sys
from pathlib import Path

from fwilab.benchmarking import rss_versus_size
from fwilab.cli import argparse_task
from fwilab.io import write_json


@argparse_task
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", type=int, nargs="+", help="numbers of samples")
    parser.add_argument("--out", default="outputs/memory_scaling", help="where the scratch data and the JSON go")
    parser.add_argument("--batch-size", type=int, default=8)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = rss_versus_size(args.sizes, out, args.batch_size, tuple(argv[split + 1 :]))
    write_json(out / "memory_scaling.json", rows)
    print("| samples | data GB | peak RSS GB |\n| ---: | ---: | ---: |")
    print("\n".join(f"| {r['samples']} | {r['data_gb']:.2f} | {r['peak_host_rss_gb']:.2f} |" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
