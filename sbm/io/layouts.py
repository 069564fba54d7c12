"""The HDF5 files the stages hand each other, declared once: each stage's reader opens its input
through `open_checked`, which refuses a file that is unreadable, lacks a dataset or attribute of
its layout, or whose shapes disagree, naming the file and the problem (config/README.md describes
each dataset and its units)."""

from contextlib import contextmanager
from dataclasses import dataclass

import h5py

from sbm.io.errors import InputError


@dataclass(frozen=True)
class Layout:
    """An HDF5 file one stage writes and later stages read."""

    stage: str  # the rule that writes it, named in errors ("rerun the dff stage")
    # Dataset name -> its dimensions: names (T frames, N neurons, K stimulus columns, B behaviour
    # columns) must have the same size in every dataset that has them; numbers are fixed sizes.
    datasets: dict
    attrs: tuple = ()  # attributes that must be present
    optional: tuple = ()  # datasets that may be absent (their shape is checked when present)
    # Attributes that list one name per column of a dimension, e.g. stimulus_names over K.
    names: tuple = (("stimulus_names", "K"), ("behavior_names", "B"))


DFF = Layout(
    "dff",
    {"dff": ("T", "N"), "noise_level": ("N",), "xyz": ("N", 3), "cell_id": ("N",), "stimulus": ("T", "K"),
     "stimulus_code": ("T",), "behavior": ("T", "B")},
    attrs=("subject", "fps", "stimulus_names"),
    optional=("behavior",),
)
RATES = Layout(
    "spikes",
    {"rate": ("T", "N"), "noise_level": ("N",), "band": ("N",), "cell_id": ("N",)},
    attrs=("subject", "fps", "method", "model_id", "lookahead"),
)
# What every model stage reads: the probabilities, positions and stimulus. The spike-inference
# fields (rate, noise level, cell ids) and behaviour are checked where present.
PROBS = Layout(
    "probabilities",
    {"prob": ("T", "N"), "xyz": ("N", 3), "stimulus": ("T", "K"), "rate": ("T", "N"), "noise_level": ("N",),
     "cell_id": ("N",), "behavior": ("T", "B")},
    attrs=("subject", "fps", "stimulus_names"),
    optional=("rate", "noise_level", "cell_id", "behavior"),
)
# The simulator's truth beside each simulated fish (raw/<subject>/ground_truth.h5): T frames, N
# imaged cells, P populations.
GROUND_TRUTH = Layout(
    "simulate",
    {"spikes": ("T", "N"), "rate": ("T", "N"), "cell_id": ("N",), "population": ("N",), "connectivity": ("P", "P"),
     "population_rate": ("T", "P")},
    attrs=("fps", "population_names"),
    names=(("population_names", "P"),),
)


def check(f: h5py.File, path, layout: Layout, require: tuple = ()) -> dict:
    """Check an open file against `layout` (and the optional datasets in `require`); return the
    size of each named dimension."""
    needed = [name for name in layout.datasets if name not in layout.optional or name in require]
    missing = [name for name in needed if name not in f]
    if missing:
        raise InputError(path, f"missing dataset(s) {missing} of a {layout.stage} file: rerun the {layout.stage} stage")
    absent = [name for name in layout.attrs if name not in f.attrs]
    if absent:
        raise InputError(path, f"missing attribute(s) {absent} of a {layout.stage} file: rerun the {layout.stage} stage")
    sizes, first = {}, {}
    for name, dims in layout.datasets.items():
        if name not in f:
            continue
        shape = f[name].shape
        if len(shape) != len(dims):
            raise InputError(path, f"{name} has shape {shape}, expected {len(dims)} dimensions {dims}")
        for dim, size in zip(dims, shape):
            if isinstance(dim, int):
                if size != dim:
                    raise InputError(path, f"{name} has shape {shape}, expected {dims}")
            elif size == 0 and dim in ("T", "N"):
                raise InputError(path, f"empty fish: {name} has shape {shape}")
            elif sizes.setdefault(dim, size) != size:
                raise InputError(path, f"{name} has shape {shape} but {first[dim]} has {sizes[dim]} along {dim}")
            else:
                first.setdefault(dim, name)
    for attr, dim in layout.names:
        if attr in f.attrs and dim in sizes and len(f.attrs[attr]) != sizes[dim]:
            raise InputError(path, f"{len(f.attrs[attr])} {attr} for {sizes[dim]} columns of {first[dim]}")
    return sizes


def check_subject(path, layout: Layout, subject: str) -> None:
    """Refuse a file of another fish than `subject` (a job given the wrong file)."""
    with open_checked(path, layout) as f:
        if str(f.attrs["subject"]) != subject:
            raise InputError(path, f"holds fish {f.attrs['subject']}, not {subject}")


@contextmanager
def open_checked(path, layout: Layout, require: tuple = ()):
    """Open an HDF5 file for reading and check it against `layout`."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(path, f"cannot be read as HDF5 ({err}): rerun the {layout.stage} stage") from err
    with f:
        check(f, path, layout, require)
        yield f
