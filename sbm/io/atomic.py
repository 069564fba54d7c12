"""Atomic outputs: write to a hidden temporary name beside the target, rename at the end.

An interrupted job therefore never leaves a file that looks complete: either the old state
(nothing) or the finished file is visible under the final name.
"""

import glob
import json
import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to `path`; rename it onto `path` if the block succeeds. The
    temporary files of earlier writers of `path` that were killed (SIGKILL, a node lost) are
    removed first: Snakemake never runs two jobs with the same output at once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stray in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        stray.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
