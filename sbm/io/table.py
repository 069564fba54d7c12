"""The table format: one file per fish, HDF5 (.h5, .hdf5) or NumPy (.npz), named <subject>.<ext>.

    activity        (T, N)  float   what `kind` says it is (see sbm.io.recording)
    xyz             (N, 3)  float   positions in micrometres
    kind            string          fluorescence | dff | activity
    fps             number          frames per second (or give timestamps)
    timestamps      (T,)    float   optional: frame times in seconds, evenly spaced
    stimulus        (T, K)  float   optional, with stimulus_names (K strings)
    behavior        (T, B)  float   optional, with behavior_names (B strings)
    cell_id         (N,)    int     optional: the neurons' own ids (default 1..N)
    subject         string          optional: checked against the file's name when present

In HDF5 each field may be a dataset or an attribute of the root; in .npz every field is an array.
"""

import zipfile
from pathlib import Path

import h5py
import numpy as np

from sbm.io.atomic import atomic_path
from sbm.io.errors import InputError
from sbm.io.recording import Recording, check, check_orientation, fps_from_timestamps

SUFFIXES = (".h5", ".hdf5", ".npz")
REQUIRED = ("activity", "xyz", "kind")


def _open_fields(path: Path, only: tuple | None = None) -> dict:
    """The fields of the file by name (all, or those of `only` that it has), arrays read whole."""
    if path.suffix not in SUFFIXES:
        raise InputError(path, f"a table file ends in one of {list(SUFFIXES)}")
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {name: z[name] for name in z.files if only is None or name in only}
        with h5py.File(path, "r") as f:
            datasets = [name for name in f if isinstance(f[name], h5py.Dataset) and (only is None or name in only)]
            attrs = {name: value for name, value in f.attrs.items() if only is None or name in only}
            return {**attrs, **{name: f[name][()] for name in datasets}}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise InputError(path, f"cannot be read as a table file (truncated or damaged?): {err}") from err


def _text(value) -> str:
    value = value.item() if isinstance(value, np.ndarray) and value.size == 1 else value
    return value.decode() if isinstance(value, bytes) else str(value)


def _names(fields: dict, name: str) -> tuple:
    return tuple(_text(v) for v in np.atleast_1d(fields[name])) if name in fields else ()


def _array(path, fields: dict, name: str, dtype=np.float32) -> np.ndarray:
    try:
        value = np.asarray(fields[name])
        if value.dtype.kind not in "biuf":
            raise ValueError(f"dtype {value.dtype}")
        return value.astype(dtype)
    except (TypeError, ValueError) as err:
        raise InputError(path, f"{name} is not numeric: {err}") from err


def table_kind(path: str | Path) -> str:
    """The kind of a table file's activity, read without the rest (the workflow plans with it)."""
    fields = _open_fields(Path(path), only=("kind",))
    if "kind" not in fields:
        raise InputError(path, "missing field 'kind' (fluorescence, dff or activity)")
    return _text(fields["kind"])


def _fps(path, fields: dict) -> float:
    value = _array(path, fields, "fps", np.float64)
    if value.size != 1:
        raise InputError(path, f"fps must be one number, got shape {value.shape}")
    return float(value.ravel()[0])


def stimulus_names(path: str | Path) -> tuple:
    """The stimulus names of a table file (the dataset's vocabulary is built from them)."""
    return _names(_open_fields(Path(path), only=("stimulus_names",)), "stimulus_names")


def read_table(path: str | Path, subject: str | None = None) -> Recording:
    """Read and check one fish's table file; `subject` defaults to the file's name."""
    path = Path(path)
    fields = _open_fields(path)
    missing = [name for name in REQUIRED if name not in fields]
    if "fps" not in fields and "timestamps" not in fields:
        missing.append("fps (or timestamps)")
    if missing:
        raise InputError(path, f"missing field(s) {missing} (found: {sorted(fields)})")
    subject = subject or path.stem
    if "subject" in fields and _text(fields["subject"]) != subject:
        raise InputError(path, f"holds fish {_text(fields['subject'])!r}, not {subject!r}")
    activity = _array(path, fields, "activity")
    check_orientation(path, activity, np.asarray(fields["xyz"]))
    T = activity.shape[0] if activity.ndim == 2 else 0
    if "timestamps" in fields:
        if np.shape(fields["timestamps"]) != (T,):
            raise InputError(
                path, f"timestamps must hold one time per frame ({T}), got {np.shape(fields['timestamps'])}"
            )
        fps = fps_from_timestamps(path, _array(path, fields, "timestamps", np.float64))
        if "fps" in fields and abs(_fps(path, fields) - fps) > 0.01 * fps:
            raise InputError(path, f"fps {_fps(path, fields)} disagrees with the timestamps ({fps:.4g} Hz)")
    else:
        fps = _fps(path, fields)
    N = activity.shape[1] if activity.ndim == 2 else 0
    stimulus = _array(path, fields, "stimulus") if "stimulus" in fields else np.zeros((T, 0), np.float32)
    behavior = _array(path, fields, "behavior") if "behavior" in fields else None
    cell_id = np.arange(1, N + 1)
    if "cell_id" in fields:
        cell_id = _array(path, fields, "cell_id", np.float64)
        if not np.all(cell_id == np.round(cell_id)):
            raise InputError(path, "cell_id must hold integer ids")
        cell_id = cell_id.astype(np.int64)
    return check(
        Recording(
            source=path,
            subject=subject,
            kind=_text(fields["kind"]),
            fps=fps,
            activity=activity,
            xyz_um=_array(path, fields, "xyz"),
            cell_id=cell_id,
            stimulus=stimulus,
            stimulus_names=_names(fields, "stimulus_names"),
            behavior=behavior,
            behavior_names=_names(fields, "behavior_names"),
            behavior_problem="" if behavior is not None else f"{path.name} has no behavior",
            provenance={"neurons_in_file": N, "neurons_kept": N, "neurons_kept_by": "all (a table file lists neurons)"},
        )
    )


def write_table(path: str | Path, rec: Recording) -> None:
    """Write a recording as a table file (format by suffix), atomically."""
    path = Path(path)
    fields = {
        "activity": rec.activity,
        "xyz": rec.xyz_um,
        "cell_id": rec.cell_id,
        "stimulus": rec.stimulus,
        "stimulus_names": np.asarray(rec.stimulus_names, dtype=str),
        "kind": np.asarray(rec.kind),
        "fps": np.asarray(rec.fps),
        "subject": np.asarray(rec.subject),
    }
    if rec.behavior is not None:
        fields.update(behavior=rec.behavior, behavior_names=np.asarray(rec.behavior_names, dtype=str))
    with atomic_path(path) as tmp:
        if path.suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **fields)
        elif path.suffix in SUFFIXES:
            with h5py.File(tmp, "w") as f:
                for name, value in fields.items():
                    if value.dtype.kind == "U":  # strings and lists of names: attributes
                        f.attrs[name] = value.tolist()
                    elif value.ndim == 0:
                        f.attrs[name] = value
                    else:
                        f.create_dataset(name, data=value, compression="gzip" if value.ndim == 2 else None)
        else:
            raise InputError(path, f"a table file ends in one of {list(SUFFIXES)}")
