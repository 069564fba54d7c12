"""The Chen et al. 2018 raw layout: one folder per fish with TimeSeries.h5 and data_full.mat.

    TimeSeries.h5   CellResp (T, N as h5py sees it; fluorescence), absIX (N, 1-based indices of
                    the kept cells in the full cell list)
    data_full.mat   a struct `data` (or top-level variables) with CellXYZ / CellXYZ_norm (all cells
                    x 3), IX_inval_anat (1-based invalid cells), fpsec, stim_full (T), Behavior_full
                    (5 x T); MATLAB v5/v7 in most copies, v7.3 (HDF5) in some: both are read.

Quirks handled here, so that no later stage has to know them: positions come from the full cell
list through absIX; invalid and NaN-position cells are dropped (and counted); the last 2 frames
of CellResp are wrapped copies (the data were circularly shifted by -2 frames relative to
behaviour) and are dropped from every array; each fish keeps its own frame rate.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from sbm.io.errors import InputError

log = logging.getLogger(__name__)

TIMESERIES = "TimeSeries.h5"
DATA_FULL = "data_full.mat"
WRAPPED_FRAMES = 2
BEHAVIOR_NAMES = ("left_turn", "right_turn", "forward_swim", "raw_left", "raw_right")
# Z-Brain atlas voxels (Randlett et al. 2015), the space of CellXYZ_norm.
ZBRAIN_VOXEL_UM = (0.798, 0.798, 2.0)
_MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: sbm. HDF5 schema 1.00 ."


# ---------------------------------------------------------------------------------------------
# data_full.mat


def read_mat_fields(path: Path, names: list[str], optional: tuple = ()) -> dict[str, np.ndarray]:
    """Read named fields from data_full.mat (v5/v7 or v7.3), from struct `data` or top level;
    a missing field is an error unless it is `optional` (then it is absent from the result).

    Arrays come back in MATLAB orientation (rows x columns as MATLAB shows them) for both formats.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    if h5py.is_hdf5(path):
        return _read_mat73(path, names, optional)
    try:
        mat = scipy.io.loadmat(path, squeeze_me=False, struct_as_record=True)
    except Exception as err:  # scipy raises several types for a damaged file
        raise InputError(path, f"not a readable MATLAB file ({type(err).__name__}: {err})") from err
    source = mat
    if "data" in mat and mat["data"].dtype.names:
        source = {k: mat["data"][0, 0][k] for k in mat["data"].dtype.names}
    out = {}
    for name in names:
        if name not in source and name in optional:
            continue
        if name not in source:
            raise InputError(
                path, f"missing field '{name}' (found: {sorted(k for k in source if not k.startswith('__'))})"
            )
        out[name] = np.asarray(source[name])
    return out


def _read_mat73(path: Path, names: list[str], optional: tuple) -> dict[str, np.ndarray]:
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(path, f"cannot open MATLAB v7.3 (HDF5) file: {err}") from err
    with f:
        group = f["data"] if "data" in f and isinstance(f["data"], h5py.Group) else f
        out = {}
        for name in names:
            if name not in group and name in optional:
                continue
            if name not in group or not isinstance(group[name], h5py.Dataset):
                raise InputError(path, f"missing field '{name}' (found: {sorted(group.keys())})")
            try:
                # HDF5 stores MATLAB's column-major arrays with reversed dimensions.
                out[name] = np.asarray(group[name][()]).T
            except OSError as err:
                raise InputError(path, f"field '{name}' cannot be read (truncated file?): {err}") from err
    return out


def write_mat_fields(path: Path, fields: dict[str, np.ndarray], fmt: str = "v5") -> None:
    """Write fields as struct `data` in MATLAB v5 (scipy) or v7.3 (HDF5 with MATLAB's header)."""
    if fmt == "v5":
        scipy.io.savemat(path, {"data": fields}, do_compression=True, oned_as="column")
    elif fmt == "v7.3":
        with h5py.File(path, "w", userblock_size=512) as f:
            group = f.create_group("data")
            group.attrs["MATLAB_class"] = np.bytes_("struct")
            for name, value in fields.items():
                value = np.atleast_2d(np.asarray(value, dtype=float))
                ds = group.create_dataset(name, data=value.T)
                ds.attrs["MATLAB_class"] = np.bytes_("double")
        with open(path, "r+b") as f:
            f.write(_MAT73_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    else:
        raise ValueError(f"unknown MATLAB format {fmt!r}: use 'v5' or 'v7.3'")


# ---------------------------------------------------------------------------------------------
# One fish


@dataclass
class ChenFish:
    """One fish, validated; fluorescence is read lazily in blocks of neurons (see read_block)."""

    folder: Path
    subject: str
    fps: float
    n_frames: int  # after dropping the wrapped frames
    columns: np.ndarray  # (N,) columns of CellResp that are kept, increasing
    cell_id: np.ndarray  # (N,) 1-based index into the full cell list (absIX)
    xyz_um: np.ndarray  # (N, 3) positions in micrometres
    stim_code: np.ndarray  # (T,) raw stimulus code per frame
    behavior: np.ndarray | None  # (T, 5), or None when Behavior_full is missing or unusable
    behavior_problem: str = ""  # why `behavior` is None (only the behaviour stages need it)
    behavior_names: tuple = BEHAVIOR_NAMES
    dropped: dict = field(default_factory=dict)  # reason -> number of cells
    kind: str = "fluorescence"  # what read_block gives (sbm.io.recording.KINDS)

    @property
    def timeseries(self) -> Path:
        return self.folder / TIMESERIES

    @property
    def source(self) -> Path:  # the file named in errors about the activity
        return self.timeseries

    @property
    def n_neurons(self) -> int:
        return len(self.columns)

    def read_block(self, start: int, stop: int) -> np.ndarray:
        """Fluorescence (T, n) of kept neurons start..stop, checked to be finite."""
        cols = self.columns[start:stop]
        if len(cols) == 0:
            return np.zeros((self.n_frames, 0), np.float32)
        lo, hi = int(cols[0]), int(cols[-1]) + 1
        try:
            with h5py.File(self.timeseries, "r") as f:
                raw = f["CellResp"][: self.n_frames, lo:hi]
        except OSError as err:
            raise InputError(
                self.timeseries, f"CellResp columns {lo}..{hi} cannot be read (truncated file?): {err}"
            ) from err
        block = np.asarray(raw[:, cols - lo], dtype=np.float32)
        bad = ~np.isfinite(block)
        if bad.any():
            t, j = np.argwhere(bad)[0]
            raise InputError(
                self.timeseries,
                f"CellResp has {int(bad.sum())} non-finite values among cells {start}..{stop} "
                f"(first at frame {t}, column {cols[j]})",
            )
        return block


def chen_folder(*files: str | Path) -> Path:
    """The fish folder of a Chen-layout file set (TimeSeries.h5, data_full.mat, and a simulated
    fish's ground_truth.h5), refused unless the files sit in one folder under the layout's names."""
    folders = {Path(f).parent for f in files}
    if len(folders) != 1:
        raise InputError(files[0], f"the files of one fish must share a folder: {[str(f) for f in files]}")
    known = (TIMESERIES, DATA_FULL, "ground_truth.h5")
    misnamed = [str(f) for f in files if Path(f).name not in known]
    if misnamed:
        raise InputError(misnamed[0], f"not a file of the Chen et al. 2018 layout ({', '.join(known)})")
    return folders.pop()


def read_chen_fish(
    folder: str | Path,
    subject: str | None = None,
    position_field: str = "CellXYZ_norm",
    voxel_size_um: tuple = ZBRAIN_VOXEL_UM,
) -> ChenFish:
    """Validate one fish folder and read everything but the fluorescence itself."""
    folder = Path(folder)
    ts_path, mat_path = folder / TIMESERIES, folder / DATA_FULL
    if not ts_path.is_file():
        raise InputError(ts_path, "file not found")
    try:
        with h5py.File(ts_path, "r") as f:
            for name in ("CellResp", "absIX"):
                if name not in f:
                    raise InputError(ts_path, f"missing dataset '{name}' (found: {sorted(f.keys())})")
            resp_shape = f["CellResp"].shape
            resp_dtype = f["CellResp"].dtype
            abs_ix = np.asarray(f["absIX"][()]).ravel()
    except OSError as err:
        raise InputError(ts_path, f"not a readable HDF5 file (truncated or damaged?): {err}") from err

    fields = read_mat_fields(
        mat_path, [position_field, "IX_inval_anat", "fpsec", "stim_full", "Behavior_full"], optional=("Behavior_full",)
    )

    # --- shapes ------------------------------------------------------------------------------
    n_cells = len(abs_ix)
    if len(resp_shape) != 2 or resp_dtype.kind != "f":
        raise InputError(ts_path, f"CellResp must be a 2-D float array, got shape {resp_shape} dtype {resp_dtype}")
    if resp_shape[1] != n_cells:
        if resp_shape[0] == n_cells:
            raise InputError(
                ts_path,
                f"CellResp is {resp_shape} but absIX has {n_cells} cells: it looks transposed (expected time x cells)",
            )
        raise InputError(ts_path, f"CellResp has {resp_shape[1]} cells but absIX lists {n_cells}")
    n_raw = resp_shape[0]
    if n_raw <= WRAPPED_FRAMES:
        raise InputError(ts_path, f"CellResp has only {n_raw} frames")
    if not np.all(np.isfinite(abs_ix)) or abs_ix.min() < 1 or np.any(abs_ix != np.round(abs_ix)):
        raise InputError(ts_path, "absIX must hold positive 1-based integer indices")
    abs_ix = abs_ix.astype(np.int64)

    xyz_all = np.asarray(fields[position_field], dtype=float)
    if xyz_all.ndim != 2 or xyz_all.shape[1] != 3:
        hint = " (it looks transposed: expected cells x 3)" if xyz_all.ndim == 2 and xyz_all.shape[0] == 3 else ""
        raise InputError(mat_path, f"{position_field} must be cells x 3, got {xyz_all.shape}{hint}")
    if abs_ix.max() > len(xyz_all):
        raise InputError(
            ts_path,
            f"absIX refers to cell {abs_ix.max()} but {mat_path.name}:{position_field} has {len(xyz_all)} cells",
        )
    if np.unique(abs_ix).size != abs_ix.size:
        raise InputError(ts_path, "absIX lists some cells more than once")

    fps = np.asarray(fields["fpsec"], dtype=float).ravel()
    if fps.size != 1 or not np.isfinite(fps[0]) or not 0.05 <= fps[0] <= 1000:
        raise InputError(mat_path, f"fpsec must be one frame rate in Hz, got {fps.tolist()[:5]}")

    stim = np.asarray(fields["stim_full"], dtype=float)
    if stim.ndim != 2 or 1 not in stim.shape:
        raise InputError(mat_path, f"stim_full must be a vector, got shape {stim.shape}")
    stim = stim.ravel()
    if stim.size != n_raw:
        raise InputError(mat_path, f"stim_full has {stim.size} frames but CellResp has {n_raw}")
    if not np.all(np.isfinite(stim)) or np.any(stim != np.round(stim)):
        raise InputError(mat_path, "stim_full must hold finite integer stimulus codes")

    behavior, behavior_problem = parse_behavior_full(fields.get("Behavior_full"), n_raw)
    if behavior_problem:
        log.warning(
            "%s: %s; the behaviour stages (PNM) cannot use this fish, the others can", mat_path, behavior_problem
        )

    # --- which cells are kept ----------------------------------------------------------------
    invalid = np.asarray(fields["IX_inval_anat"], dtype=float).ravel()
    invalid = invalid[np.isfinite(invalid)].astype(np.int64)
    is_invalid = np.isin(abs_ix, invalid)
    xyz = xyz_all[abs_ix - 1] * np.asarray(voxel_size_um, dtype=float)
    no_position = ~np.all(np.isfinite(xyz), axis=1) & ~is_invalid
    keep = ~is_invalid & ~no_position
    if not keep.any():
        raise InputError(folder, "no valid cells left after dropping invalid and NaN-position cells")
    dropped = {"invalid_anat": int(is_invalid.sum()), "nan_position": int(no_position.sum())}
    subject = subject or folder.name
    log.info(
        "%s: %d frames at %.3f Hz, %d of %d cells kept (dropped %s), %d wrapped frames dropped",
        subject,
        n_raw - WRAPPED_FRAMES,
        fps[0],
        keep.sum(),
        n_cells,
        dropped,
        WRAPPED_FRAMES,
    )
    n_frames = n_raw - WRAPPED_FRAMES
    return ChenFish(
        folder=folder,
        subject=subject,
        fps=float(fps[0]),
        n_frames=n_frames,
        columns=np.flatnonzero(keep),
        cell_id=abs_ix[keep],
        xyz_um=xyz[keep].astype(np.float32),
        stim_code=stim[:n_frames].astype(np.int64),
        behavior=None if behavior is None else behavior[:n_frames],
        behavior_problem=behavior_problem,
        dropped=dropped,
    )


def parse_behavior_full(beh, n_raw: int) -> tuple[np.ndarray | None, str]:
    """(behaviour (T, 5), "") from Behavior_full, or (None, what is wrong with it). A fish whose
    behaviour is missing or unusable still has brain activity, so this is not an error here: the
    stages that need behaviour refuse the fish and say why (sbm.data.behavior)."""
    if beh is None:
        return None, "data_full.mat has no Behavior_full"
    beh = np.asarray(beh, dtype=float)
    if beh.ndim != 2 or beh.shape[0] != len(BEHAVIOR_NAMES):
        hint = (
            " (it looks transposed: expected 5 x frames)"
            if beh.ndim == 2 and beh.shape[1] == len(BEHAVIOR_NAMES)
            else ""
        )
        return (
            None,
            f"Behavior_full must be {len(BEHAVIOR_NAMES)} x frames ({', '.join(BEHAVIOR_NAMES)}), got "
            f"{beh.shape}{hint}",
        )
    if beh.shape[1] != n_raw:
        return None, f"Behavior_full has {beh.shape[1]} frames but CellResp has {n_raw}"
    bad = ~np.isfinite(beh)
    if bad.any():
        row, t = np.argwhere(bad)[0]
        return (
            None,
            f"Behavior_full holds {int(bad.sum())} non-finite values (first: {BEHAVIOR_NAMES[row]} at frame {t})",
        )
    return beh.T.astype(np.float32), ""


def read_stim_codes(folder: str | Path) -> np.ndarray:
    """The raw per-frame stimulus codes of one fish, wrapped frames dropped (for the vocabulary)."""
    mat_path = Path(folder) / DATA_FULL
    stim = np.asarray(read_mat_fields(mat_path, ["stim_full"])["stim_full"], dtype=float).ravel()
    if not np.all(np.isfinite(stim)) or np.any(stim != np.round(stim)):
        raise InputError(mat_path, "stim_full must hold finite integer stimulus codes")
    return stim[:-WRAPPED_FRAMES].astype(np.int64)
