"""Check a folder of your own recordings (source table or nwb) before anything runs: every fish is
read as the pipeline will read it, and one line per fish says what was read or every problem found.

    python scripts/check_recordings.py --config my_data.yaml
    python scripts/check_recordings.py --config config/config.yaml my_data.yaml   # merged in order, as snakemake does

Exits with status 1 when any fish has a problem.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.check import check_recordings
from sbm.io.errors import InputError
from sbm.workflow import read_config


@dataclass(kw_only=True)
class Args(Command):
    config: list[Path] = arg("the workflow's config file(s), merged in order (later files win)")


def main(args: Args) -> None:
    checks = check_recordings(read_config(*args.config))
    for check in checks:
        print(check.line(), flush=True)
    bad = [c.subject for c in checks if c.problems]
    if bad:
        raise InputError(args.config[-1], f"{len(bad)} of {len(checks)} fish have problems: {bad} (see above)")


if __name__ == "__main__":
    sys.exit(run(main, Args))
