"""What every script in scripts/ shares: logging to stderr and a clean exit on bad input."""

import logging
import sys
from typing import Callable

from sbm.io.errors import DownloadError, InputError


def run(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> int:
    """Call main(argv); expected failures (bad input, a download that gave up) print one line
    `error: <file>: <problem>` and return 1, so a Snakemake log ends with the reason."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main(argv)
    except (InputError, DownloadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
