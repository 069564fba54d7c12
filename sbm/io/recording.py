"""One fish from a source other than the Chen et al. 2018 layout (a table file or an NWB file),
read whole into memory and checked before any stage uses it.

What the activity is decides where the fish enters the pipeline (its `kind`):
    fluorescence  raw fluorescence: DF/F with the causal baseline, then spike inference
    dff           DF/F (a fraction, not percent): spike inference
    activity      already in [0, 1] (region averages, rates, probabilities): the probability stage
                  takes it as it is (no rescaling; values outside [0, 1] are refused)

The readers (sbm.io.table, sbm.io.nwb) fill a Recording; `check` refuses it, naming the file, when
a field is missing, has the wrong shape, or holds NaN; frames must be evenly spaced in time.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sbm.io.errors import InputError

KINDS = ("fluorescence", "dff", "activity")
# Frame intervals may differ from their median by this share before the frames count as unevenly
# spaced (a model reads frames, not seconds: dropped frames would silently shift its context).
TIMESTAMP_JITTER = 0.05


@dataclass
class Recording:
    source: Path  # the file it was read from, named in every error
    subject: str
    kind: str  # one of KINDS
    fps: float  # frames per second
    activity: np.ndarray  # (T, N) float32
    xyz_um: np.ndarray  # (N, 3) positions in micrometres
    cell_id: np.ndarray  # (N,) the file's own ids of the neurons (1..N when it has none)
    stimulus: np.ndarray  # (T, K) float32; K may be 0
    stimulus_names: tuple
    behavior: np.ndarray | None  # (T, B), or None (behavior_problem says why)
    behavior_names: tuple = ()
    behavior_problem: str = ""
    dropped: dict = field(default_factory=dict)  # reason -> neurons of the file left out (NWB: not_a_cell)
    # How the reader made the fish from its file (which series, which ROIs, what it subtracted, where
    # the positions came from): written as attributes recording_<key> of the dff (or probs) file,
    # which the probs file keeps, so a result says what it was built from.
    provenance: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return self.activity.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.activity.shape[1]

    def read_block(self, start: int, stop: int) -> np.ndarray:
        """Activity (T, n) of neurons start..stop (the Chen reader's interface, used by write_dff)."""
        return self.activity[:, start:stop]


def fps_from_timestamps(path, timestamps) -> float:
    """The frame rate of evenly spaced, strictly increasing frame times (seconds)."""
    t = np.asarray(timestamps, dtype=float).ravel()
    if t.size < 2 or not np.all(np.isfinite(t)):
        raise InputError(path, f"timestamps must be at least 2 finite times, got {t.size}")
    dt = np.diff(t)
    if np.any(dt <= 0):
        i = int(np.argmax(dt <= 0))
        raise InputError(path, f"timestamps are not increasing (frame {i + 1} at {t[i + 1]} s after {t[i]} s)")
    median = float(np.median(dt))
    worst = int(np.argmax(np.abs(dt - median)))
    if abs(dt[worst] - median) > TIMESTAMP_JITTER * median:
        raise InputError(
            path,
            f"frames are not evenly spaced: frame {worst + 1} comes {dt[worst]:.4g} s after the one before, the median"
            f" interval is {median:.4g} s (dropped frames? resample the recording to a fixed rate first)",
        )
    return 1.0 / median


def check_orientation(path, activity: np.ndarray, xyz: np.ndarray) -> None:
    """Refuse activity given as neurons x frames: its rows, not its columns, match the positions.
    Checked before anything else reads the frame count (timestamps, stimulus), so the message
    blames the activity rather than whatever is compared with it first."""
    if activity.ndim == 2 and np.ndim(xyz) == 2 and np.shape(xyz)[1] == 3:
        rows, columns = activity.shape
        if len(xyz) == rows != columns:
            raise InputError(
                path,
                f"activity must be frames x neurons, got {rows} x {columns}, but xyz has {rows} neurons: the activity"
                " looks transposed (neurons x frames)",
            )


def check(rec: Recording) -> Recording:
    """Refuse a recording that no stage could use, with the file and the problem in one line."""
    path = rec.source
    if rec.kind not in KINDS:
        raise InputError(path, f"kind must be one of {list(KINDS)}, got {rec.kind!r}")
    if not (np.isfinite(rec.fps) and 0.05 <= rec.fps <= 1000):
        raise InputError(path, f"fps must be a frame rate in Hz (0.05 to 1000), got {rec.fps}")
    x = rec.activity
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise InputError(path, f"activity must be frames x neurons (at least 2 x 1), got shape {x.shape}")
    check_orientation(path, x, rec.xyz_um)
    T, N = x.shape
    bad = ~np.isfinite(x)
    if bad.any():
        t, n = np.argwhere(bad)[0]
        raise InputError(path, f"activity holds {int(bad.sum())} non-finite values (first at frame {t}, neuron {n})")
    if rec.kind == "activity" and (x.min() < 0 or x.max() > 1):
        raise InputError(
            path,
            f"activity of kind 'activity' must lie in [0, 1], got {x.min():.4g} to {x.max():.4g} (DF/F is kind 'dff')",
        )
    if rec.xyz_um.shape != (N, 3):
        hint = " (it looks transposed)" if rec.xyz_um.shape == (3, N) else ""
        raise InputError(path, f"xyz must be neurons x 3 ({N} x 3), got {rec.xyz_um.shape}{hint}")
    if not np.all(np.isfinite(rec.xyz_um)):
        raise InputError(path, f"xyz: {int((~np.isfinite(rec.xyz_um).all(1)).sum())} neurons have no finite position")
    if rec.cell_id.shape != (N,) or np.unique(rec.cell_id).size != N:
        raise InputError(path, f"cell_id must be {N} distinct ids, one per neuron, got shape {rec.cell_id.shape}")
    _check_columns(path, "stimulus", rec.stimulus, rec.stimulus_names, T)
    if rec.behavior is not None:
        _check_columns(path, "behavior", rec.behavior, rec.behavior_names, T, finite=False)
        bad = ~np.isfinite(rec.behavior)
        if bad.any():  # as for the Chen fish: only the behaviour stages need it, and they say why not
            t, b = np.argwhere(bad)[0]
            rec.behavior_problem = (
                f"behavior holds {int(bad.sum())} non-finite values (first: {rec.behavior_names[b]} at frame {t})"
            )
            rec.behavior = None
    return rec


def _check_columns(path, name, values, names, T, finite=True) -> None:
    if values.ndim != 2 or values.shape[0] != T:
        raise InputError(path, f"{name} must be frames x columns with {T} frames like activity, got {values.shape}")
    if len(names) != values.shape[1]:
        raise InputError(path, f"{len(names)} {name}_names for {values.shape[1]} {name} columns")
    if len(set(names)) != len(names):
        raise InputError(path, f"{name}_names repeat a name: {list(names)}")
    if finite and not np.all(np.isfinite(values)):
        raise InputError(path, f"{name} holds {int((~np.isfinite(values)).sum())} non-finite values")


def recording_vocabulary(names_per_subject: dict[str, tuple], canonical: list[str] = ()) -> dict:
    """One stimulus vocabulary across the dataset: every name any fish has, those of `canonical`
    (the config's stimulus names) first in its order, then the rest in order of first appearance."""
    seen = list(dict.fromkeys(name for names in names_per_subject.values() for name in names))
    names = [n for n in dict.fromkeys(canonical) if n in seen] + [n for n in seen if n not in set(canonical)]
    return {"names": names, "subjects": {s: list(n) for s, n in names_per_subject.items()}}


def align_stimulus(rec: Recording, names: list[str]) -> np.ndarray:
    """The fish's stimulus with the vocabulary's columns: a stimulus it never had is a column of
    zeros (not presented), the fish's own columns by name; a name outside the vocabulary is an
    error (the vocabulary was built from other files)."""
    unknown = [n for n in rec.stimulus_names if n not in names]
    if unknown:
        raise InputError(rec.source, f"stimulus {unknown} not in the stimulus vocabulary {names}: rebuild it")
    out = np.zeros((rec.n_frames, len(names)), np.float32)
    for k, name in enumerate(rec.stimulus_names):
        out[:, names.index(name)] = rec.stimulus[:, k]
    return out
