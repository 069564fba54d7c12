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


def write_h5_groups(path: str | Path, groups: dict[str, dict]) -> None:
    """One HDF5 group per key (a fish): its arrays as datasets (2-D ones compressed), everything
    else (numbers, strings, lists of strings) as attributes."""
    import h5py
    import numpy as np

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, items in groups.items():
            group = f.create_group(name)
            for key, value in items.items():
                if isinstance(value, np.ndarray):
                    group.create_dataset(key, data=value, compression="gzip" if value.ndim == 2 else None)
                else:
                    group.attrs[key] = value


def read_first_group(path: str | Path) -> dict:
    """The first group of a file write_h5_groups wrote (the first held-out fish): its datasets and
    attributes in one dict."""
    import h5py

    from sbm.io.errors import InputError

    with h5py.File(path, "r") as f:
        if not len(f):
            raise InputError(path, "holds no fish")
        group = next(iter(f.values()))
        return {**{k: group[k][()] for k in group}, **dict(group.attrs)}


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
