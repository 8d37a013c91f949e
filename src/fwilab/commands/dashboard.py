"""A W&B report for a sweep: `fwilab-dashboard outputs/multirun/<date>/<time> [--dry-run]`,
or for a W&B group by name; `--push FILE` saves a specification written offline."""

import argparse
import sys
from pathlib import Path

from fwilab.cli import argparse_task
from fwilab.errors import import_extra


@argparse_task
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sweep", nargs="?", help="a Hydra multirun directory, or the name of a W&B group")
    parser.add_argument("--dry-run", action="store_true", help="write the report's specification, do not save it")
    parser.add_argument("--out", default=None, help="specification file (default: <sweep dir>/wandb_report.json)")
    parser.add_argument("--project", default="fwilab", help="W&B project, for a group given by name")
    parser.add_argument("--entity", default="", help="W&B entity, for a group given by name")
    parser.add_argument("--push", metavar="FILE", help="save a specification written earlier (needs WANDB_MODE=online)")
    args = parser.parse_args()
    import_extra("wandb_workspaces", "reports", "a W&B report (fwilab-dashboard)")
    from fwilab.experiments.dashboard import build_report, group_facts, load_specification, publish, sweep_facts

    if (args.sweep is None) == (args.push is None):
        parser.error("give a sweep directory or W&B group, or --push FILE")
    if args.push:
        report, out = load_specification(args.push), Path(args.push)
    else:
        directory = Path(args.sweep)
        facts = sweep_facts(directory) if directory.is_dir() else group_facts(args.sweep, args.project, args.entity)
        report = build_report(facts, f"fwilab sweep {facts.group}")
        out = Path(args.out) if args.out else (directory if directory.is_dir() else Path(".")) / "wandb_report.json"
    kind, where = publish(report, out, args.dry_run)
    if kind == "url":
        print(f"report saved: {where}")
    else:
        print(
            f"W&B is offline: wrote the report's specification to {where}; save it with WANDB_MODE=online fwilab-dashboard --push {where}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
