"""Neurodata Without Borders (NWB) files, read and written with pynwb: one fish per file.

What is read (everything else in the file is left alone; `NWBSettings` is the config's `nwb`):
    activity   one RoiResponseSeries (data x conversion + offset, as for every series read) of an
               ophys `Fluorescence` or `DfOverF` container in any processing module. Segmenters
               write other traces beside the cells' fluorescence, recognised by the name of the
               series or of its container: Neuropil, Deconvolved, Denoised, Baseline, Background
               (neuroconv names the series so, all in one Fluorescence container; suite2p's own
               export names the containers); these are never the activity. Of the rest, the one
               raw fluorescence series is read (kind fluorescence), else the one DF/F series (a
               DfOverF container, or a series named DfOverF: kind dff; a unit of "%" or
               "percent" is divided by 100); `series` names one when there are several.
               Raw fluorescence is neuropil-corrected, F - c x Fneu (c: `neuropil_coefficient`,
               0.7 as in suite2p), when a Neuropil series of the same ROIs is there.
               Frames per second from its rate, or from evenly spaced timestamps.
    neurons    the ROIs the segmentation marked as cells (`rois: cells`): a 0/1 column `iscell`
               (suite2p; neuroconv writes its first column), `is_accepted` (neuroconv, e.g. for
               CaImAn) or `accepted` of the PlaneSegmentation; every ROI without such a column,
               or with `rois: all`.
    positions  the weighted centroid of each ROI's voxel, pixel or image mask, in micrometres:
               (x, y, z) as NWB defines them (x along the image's width, its columns; y along its
               height, its rows), times the imaging plane's grid_spacing (x, y[, z]) plus its
               origin_coords; a 2-D mask takes z from origin_coords (else 0). Without grid_spacing
               in the file, `grid_spacing_um` gives it. Image masks are [roi, x, y] as the schema
               says (neuroconv transposes its images to that). Pixel and voxel masks: NWB's x
               field is the column, but suite2p's own export and roiextractors (so every file
               neuroconv writes) put the image row (suite2p's ypix) in x and the column (xpix) in
               y; `pixel_mask_x` says which (auto: row for files written by NeuroConv or by
               suite2p, column otherwise).
    stimulus   every TimeSeries in the file's stimulus group (one column per series, or per
               column of a 2-D one, named <series>_<k>; at another rate than the frames, its
               last sample at or before each frame), and every TimeIntervals table with a
               `stimulus_name` column (one 0/1 column per name: on for the frames whose time
               falls in one of its intervals).
    behaviour  every TimeSeries of every BehavioralTimeSeries container, one sample per frame
               (otherwise the behaviour stages refuse the fish and say why; the others run).
    subject    the file's Subject.subject_id, when it has one, must be the fish's name (the
               file's name), or the name must begin with sub-<subject_id> followed by _ or its
               end (DANDI's naming, sub-<id>_ses-<session>...).
"""

import logging
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from sbm.io.errors import InputError
from sbm.io.recording import Recording, check, fps_from_timestamps
from sbm.settings import from_dict

log = logging.getLogger(__name__)
UNIT_TO_UM = {
    "meters": 1e6,
    "meter": 1e6,
    "m": 1e6,
    "millimeters": 1e3,
    "millimeter": 1e3,
    "mm": 1e3,
    "micrometers": 1.0,
    "micrometer": 1.0,
    "microns": 1.0,  # suite2p's own export
    "micron": 1.0,
    "um": 1.0,
    "\u00b5m": 1.0,
}
STIMULUS_COLUMN = "stimulus_name"
# Traces segmenters write beside the cells' fluorescence (by the start of the series' or its
# container's name, in lower case): never read as the activity.
OTHER_TRACES = ("neuropil", "deconvolved", "denoised", "baseline", "background")
CELL_COLUMNS = ("iscell", "is_accepted", "accepted")  # the first the PlaneSegmentation has is used
KEY = "nwb.series"  # the config key that names the series (in messages)


@dataclass
class NWBSettings:
    """The config's `nwb` section: how a file's ROIs and traces become the fish's neurons."""

    series: str | None = None  # the RoiResponseSeries to read (name or module/container/name); None: see above
    neuropil_coefficient: float = 0.7  # F - c x Fneu when a Neuropil series is there (suite2p's default); 0: none
    rois: str = "cells"  # cells: the ROIs marked as cells (iscell, is_accepted, accepted); all: every ROI
    grid_spacing_um: tuple | None = None  # (x, y[, z]) micrometres per pixel, for files without grid_spacing
    pixel_mask_x: str = "auto"  # what a pixel or voxel mask's x indexes: column (NWB), row, or auto (see above)

    @classmethod
    def from_dict(cls, d: dict | None) -> "NWBSettings":
        settings = from_dict(cls, d or {}, "nwb")
        if settings.rois not in ("cells", "all") or settings.pixel_mask_x not in ("auto", "column", "row"):
            raise ValueError(f"nwb.rois must be cells or all, nwb.pixel_mask_x auto, column or row: got {d}")
        return settings


def _pynwb():
    import pynwb  # imported here: importing it takes seconds, and only NWB sources need it

    warnings.filterwarnings("ignore", module="hdmf")  # pynwb's notes on optional fields we leave empty
    warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")  # atomic_path's temporary name
    return pynwb


def _traces(nwb) -> dict:
    """Every RoiResponseSeries of a Fluorescence or DfOverF container: module/container/name ->
    (series, what it holds: fluorescence, dff, or one of OTHER_TRACES)."""
    pynwb = _pynwb()
    found = {}
    for module in nwb.processing.values():
        for container in module.data_interfaces.values():
            if isinstance(container, (pynwb.ophys.Fluorescence, pynwb.ophys.DfOverF)):
                for s in container.roi_response_series.values():
                    names = (s.name.lower(), container.name.lower())
                    other = [t for t in OTHER_TRACES if any(n.startswith(t) for n in names)]
                    if other:
                        what = other[0]
                    elif isinstance(container, pynwb.ophys.DfOverF) or names[0].startswith("dfoverf"):
                        what = "dff"
                    else:
                        what = "fluorescence"
                    found[f"{module.name}/{container.name}/{s.name}"] = (s, what)
    return found


def _series(path, traces: dict, series: str | None) -> tuple[str, object, str]:
    """The activity: (its module/container/name, the RoiResponseSeries, its kind)."""
    if not traces:
        raise InputError(path, "no RoiResponseSeries in a Fluorescence or DfOverF container of any processing module")
    if series is not None:
        chosen = [key for key in traces if series in (key, key.rsplit("/", 1)[1])]
        if len(chosen) != 1:
            raise InputError(
                path, f"{len(chosen)} RoiResponseSeries match nwb.series {series!r}; found {sorted(traces)}"
            )
        key = chosen[0]
        if traces[key][1] in OTHER_TRACES:
            raise InputError(
                path,
                f"nwb.series {series!r} is the segmenter's {traces[key][1]} trace, not the cells' fluorescence or DF/F"
                " (the pipeline infers spikes itself)",
            )
        return key, traces[key][0], traces[key][1]
    for kind in ("fluorescence", "dff"):  # raw fluorescence first: DF/F then uses the causal baseline
        keys = [key for key, (_, what) in traces.items() if what == kind]
        if len(keys) == 1:
            return keys[0], traces[keys[0]][0], kind
        if len(keys) > 1:
            raise InputError(path, f"several RoiResponseSeries of {kind} {keys}: name one with the config key {KEY}")
    raise InputError(path, f"no RoiResponseSeries of fluorescence or DF/F, only {sorted(traces)}: name one with {KEY}")


def _neuropil(path, traces: dict, rrs) -> tuple[str, object] | tuple[None, None]:
    """The Neuropil series of the activity's ROIs (same PlaneSegmentation, same rows), if any."""
    rows = np.asarray(rrs.rois.data[:])
    matches = [
        (key, s)
        for key, (s, what) in traces.items()
        if what == "neuropil"
        and s.rois.table is rrs.rois.table
        and np.array_equal(np.asarray(s.rois.data[:]), rows)
        and s.data.shape == rrs.data.shape
    ]
    if len(matches) > 1:
        raise InputError(path, f"several Neuropil series {[k for k, _ in matches]} for the ROIs of {rrs.name}")
    return matches[0] if matches else (None, None)


def _cells(path, plane) -> tuple[np.ndarray | None, str]:
    """Which ROIs of a PlaneSegmentation its segmenter marked as cells ((ROIs,) bool), and the
    column that says so; (None, "") without such a column."""
    for name in CELL_COLUMNS:
        if name in plane.colnames:
            values = np.asarray(plane[name].data[:])
            values = values[:, 0] if values.ndim == 2 else values  # suite2p's own export: (iscell, probability)
            if values.dtype.kind not in "biuf" or not np.isin(values, (0, 1)).all():
                unique = np.unique(values)[:4]
                raise InputError(path, f"{plane.name} column {name} must be 0 or 1 per ROI, got values {unique}")
            return values.astype(bool), name
    return None, ""


def _to_um(path, values, unit, what) -> np.ndarray:
    unit = str(unit).strip().lower()
    if unit not in UNIT_TO_UM:
        raise InputError(path, f"{what} unit {unit!r} is not one of {sorted(UNIT_TO_UM)}")
    return np.asarray(values, dtype=float) * UNIT_TO_UM[unit]


def _numbers(values) -> str:
    return ", ".join(f"{float(v):.4g}" for v in values)


def _grid_spacing(path, imaging, configured) -> tuple[np.ndarray, str]:
    """Micrometres per pixel (x, y[, z]) of an imaging plane: its grid_spacing, else the config's."""
    if imaging.grid_spacing is None:
        if configured is None:
            raise InputError(
                path,
                f"positions missing: imaging plane {imaging.name!r} has no grid_spacing; give the pixel size in"
                " micrometres as the config key nwb.grid_spacing_um: [x, y] (x along the image's columns, y its rows)",
            )
        return np.asarray(configured, dtype=float), "the config's nwb.grid_spacing_um"
    spacing = _to_um(path, imaging.grid_spacing, imaging.grid_spacing_unit, "grid_spacing")
    if configured is not None:
        n = min(len(spacing), len(configured))
        if not np.allclose(spacing[:n], configured[:n], rtol=0.01):
            raise InputError(
                path,
                f"imaging plane {imaging.name!r} has grid_spacing ({_numbers(spacing)}) um, the config key"
                f" nwb.grid_spacing_um says ({_numbers(configured)}): correct one (the key is for files without one)",
            )
    return spacing, "the file's grid_spacing"


def _mask_x_is_row(nwb, plane, setting: str) -> bool:
    """Whether a pixel or voxel mask's x field holds the image row (see the module's docstring)."""
    if setting != "auto":
        return setting == "row"
    by_neuroconv = "neuroconv" in str(nwb.source_script or "").lower()
    by_suite2p = str(plane.description).strip() == "suite2p output"  # suite2p's save_nwb
    return by_neuroconv or by_suite2p


def _centroids(path, nwb, plane, settings: NWBSettings) -> tuple[np.ndarray, str]:
    """(ROIs, 3) positions in micrometres of a PlaneSegmentation's ROIs, and where they came from."""
    imaging = plane.imaging_plane
    spacing, spacing_from = _grid_spacing(path, imaging, settings.grid_spacing_um)
    origin = np.zeros(3)
    if imaging.origin_coords is not None:
        coords = _to_um(path, imaging.origin_coords, imaging.origin_coords_unit, "origin_coords")
        origin[: len(coords)] = coords
    columns = plane.colnames
    if "voxel_mask" in columns or "pixel_mask" in columns:
        name = "voxel_mask" if "voxel_mask" in columns else "pixel_mask"
        axes = ("x", "y", "z") if name == "voxel_mask" else ("x", "y")
        index = plane[name]  # a ragged column: the index of each ROI's last voxel, over the voxels
        mask, ends = index.target.data[:], np.asarray(index.data[:], dtype=np.int64)
        if mask.dtype.names:
            coords, weight = np.stack([mask[a] for a in axes], 1).astype(float), mask["weight"].astype(float)
        else:  # a plain (voxels, axes + 1) array
            coords, weight = np.asarray([m[: len(axes)] for m in mask], float), np.asarray([m[-1] for m in mask], float)
        row_in_x = _mask_x_is_row(nwb, plane, settings.pixel_mask_x)
        if row_in_x:
            coords[:, [0, 1]] = coords[:, [1, 0]]  # (row, column) -> NWB's (x: column, y: row)
        starts = np.concatenate([[0], ends[:-1]])
        if np.any(ends <= starts):
            raise InputError(path, f"positions missing: {name} of ROI {int(np.argmax(ends <= starts))} is empty")
        total = np.add.reduceat(weight, starts)
        centre = np.add.reduceat(coords * weight[:, None], starts) / total[:, None]
        what = f"{name}s (x holding the image {'row' if row_in_x else 'column'})"
    elif "image_mask" in columns:
        masks = np.asarray(plane["image_mask"].data[:], dtype=float)  # (ROIs, x, y[, z])
        grids = np.meshgrid(*[np.arange(n) for n in masks.shape[1:]], indexing="ij")
        total = masks.reshape(len(masks), -1).sum(1)
        centre = np.stack([(masks * g).reshape(len(masks), -1).sum(1) for g in grids], 1) / total[:, None]
        what = "image masks [roi, x, y]"
    else:
        raise InputError(path, f"positions missing: PlaneSegmentation {plane.name!r} has no voxel, pixel or image mask")
    if np.any(total <= 0):
        raise InputError(path, f"positions missing: the mask of ROI {int(np.argmax(total <= 0))} has no weight")
    dims = centre.shape[1]
    if len(spacing) < dims:
        raise InputError(path, f"{spacing_from} has {len(spacing)} values for {dims}-D masks")
    xyz = origin.copy()[None].repeat(len(centre), 0)
    xyz[:, :dims] += centre * spacing[:dims]
    return xyz, f"weighted centroids of the {what} x ({_numbers(spacing[:dims])}) um ({spacing_from})"


def _check_subject(path, nwb, subject: str) -> None:
    """The file's own subject_id, when it has one, must be the fish it is read as (see above)."""
    sid = str(nwb.subject.subject_id or "").strip() if nwb.subject is not None else ""
    if sid and sid != subject and not re.match(rf"sub-{re.escape(sid)}(_|$)", subject):
        raise InputError(
            path,
            f"holds fish {sid!r} (its Subject.subject_id), not {subject!r}: name the file {sid}.nwb (or"
            f" sub-{sid}_<anything>.nwb) and list that name in subjects, or correct its subject_id",
        )


def _values(series) -> np.ndarray:
    """A series' data in its unit: NWB stores data * conversion + offset (e.g. integers)."""
    data = np.asarray(series.data[:], dtype=np.float64) * float(series.conversion or 1.0)
    return (data + float(getattr(series, "offset", 0.0) or 0.0)).astype(np.float32)


def _frame_columns(path, series, T) -> np.ndarray:
    data = _values(series)
    if data.shape[0] != T:
        raise InputError(
            path, f"{series.name} has {data.shape[0]} samples but the activity has {T} frames (one per frame needed)"
        )
    return data.reshape(T, -1)


def _at_frames(path, series, times: np.ndarray) -> np.ndarray:
    """A stimulus series at the frame times: as it is with one sample per frame, else the last
    sample at or before each frame (a zero-order hold; frames before its first sample are an error)."""
    data = _values(series)
    data = data.reshape(len(data), -1)
    if len(data) == len(times):
        return data
    if series.rate is not None:
        own = float(series.starting_time or 0.0) + np.arange(len(data)) / float(series.rate)
    else:
        own = np.asarray(series.timestamps[:], dtype=float)
    index = np.searchsorted(own, times + 1e-9, side="right") - 1
    if len(own) == 0 or index.min() < 0:
        raise InputError(path, f"stimulus {series.name} starts after the first frame ({times[0]:.3f} s)")
    return data[index]


def _column_names(series, data) -> list[str]:
    return [series.name] if data.shape[1] == 1 else [f"{series.name}_{k}" for k in range(data.shape[1])]


def _stimulus(path, nwb, times: np.ndarray, fps: float) -> tuple[np.ndarray, tuple]:
    pynwb = _pynwb()
    columns, names = [], []
    for series in nwb.stimulus.values():
        # images and movies (and anything else not one or a few numbers per sample) are no columns
        if isinstance(series, pynwb.image.ImageSeries) or np.ndim(series.data) not in (1, 2) or not len(series.data):
            log.warning("%s: stimulus %s is not one or a few numbers per sample: not read", path, series.name)
            continue
        data = _at_frames(path, series, times)
        columns.append(data)
        names += _column_names(series, data)
    half = 0.5 / fps  # an interval covers the frames whose time falls inside it (to half a frame)
    for table in nwb.intervals.values():
        if STIMULUS_COLUMN not in table.colnames:
            continue
        start, stop = np.asarray(table["start_time"].data[:]), np.asarray(table["stop_time"].data[:])
        labels = [v.decode() if isinstance(v, bytes) else str(v) for v in table[STIMULUS_COLUMN].data[:]]
        for name in dict.fromkeys(labels):  # first appearance order
            on = np.zeros(len(times), np.float32)
            for a, b in zip(start[[x == name for x in labels]], stop[[x == name for x in labels]]):
                on[(times >= a - half) & (times < b - half)] = 1
            columns.append(on[:, None])
            names.append(name)
    if not columns:
        return np.zeros((len(times), 0), np.float32), ()
    return np.concatenate(columns, 1), tuple(names)


def _behavior(path, nwb, T) -> tuple[np.ndarray | None, tuple, str]:
    """(behaviour (T, B), its names, ""), or (None, (), why not): a behaviour that is not sampled
    once per frame stops only the behaviour stages, as for the Chen layout."""
    pynwb = _pynwb()
    columns, names = [], []
    for module in nwb.processing.values():
        for container in module.data_interfaces.values():
            if isinstance(container, pynwb.behavior.BehavioralTimeSeries):
                for series in container.time_series.values():
                    try:
                        data = _frame_columns(path, series, T)
                    except InputError as err:
                        return None, (), f"behaviour: {err.problem}"
                    columns.append(data)
                    names += _column_names(series, data)
    if not columns:
        return None, (), f"{Path(path).name} has no BehavioralTimeSeries"
    return np.concatenate(columns, 1), tuple(names), ""


def _frame_times(path, rrs, T: int) -> tuple[np.ndarray, float]:
    """The activity's frame times (s) and frames per second, from its rate or its timestamps."""
    if rrs.rate is not None:
        fps = float(rrs.rate)
        return float(rrs.starting_time or 0.0) + np.arange(T) / fps, fps
    times = np.asarray(rrs.timestamps[:], dtype=float)
    if times.shape != (T,):
        raise InputError(path, f"{rrs.name} has {times.shape} timestamps for {T} frames")
    return times, fps_from_timestamps(path, times)


def _reason(err: Exception) -> str:
    """What went wrong, in one short line: pynwb and hdmf put a dump of the object they were
    building (thousands of characters) before the reason, which is their last argument."""
    text = next((a for a in reversed(err.args) if isinstance(a, str)), str(err))
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


@contextmanager
def _opened(path: Path):
    """The file's NWBFile, open; anything pynwb or hdmf raise about it becomes one InputError."""
    if not path.is_file():
        raise InputError(path, "file not found")
    if not h5py.is_hdf5(path):
        raise InputError(path, "not an HDF5 file (NWB files are HDF5; truncated or damaged?)")
    pynwb = _pynwb()
    try:
        with pynwb.NWBHDF5IO(str(path), "r") as io:
            yield io.read()
    except InputError:
        raise
    except Exception as err:  # pynwb and hdmf raise many types for a file that is not valid NWB
        raise InputError(path, f"cannot be read as NWB: {_reason(err)} ({type(err).__name__})") from err


def stimulus_names(path: str | Path, settings: NWBSettings | None = None) -> tuple:
    """The stimulus column names of an NWB file, its activity left unread (for the vocabulary)."""
    path = Path(path)
    with _opened(path) as nwb:
        _, rrs, _ = _series(path, _traces(nwb), (settings or NWBSettings()).series)
        times, fps = _frame_times(path, rrs, rrs.data.shape[0])
        return _stimulus(path, nwb, times, fps)[1]


def read_nwb(path: str | Path, subject: str | None = None, settings: NWBSettings | None = None) -> Recording:
    """Read and check one fish's NWB file; `subject` defaults to the file's name."""
    path, settings = Path(path), settings or NWBSettings()
    subject = subject or path.stem
    with _opened(path) as nwb:
        _check_subject(path, nwb, subject)
        traces = _traces(nwb)
        key, rrs, kind = _series(path, traces, settings.series)
        activity = _values(rrs)
        if activity.ndim != 2:
            raise InputError(path, f"{rrs.name} must be frames x ROIs, got shape {activity.shape}")
        T = activity.shape[0]
        rows = np.asarray(rrs.rois.data[:], dtype=np.int64)
        if activity.shape[1] != len(rows):
            hint = " (it looks transposed: NWB stores frames x ROIs)" if T == len(rows) else ""
            raise InputError(path, f"{rrs.name} has {activity.shape[1]} columns for {len(rows)} ROIs{hint}")
        provenance = {"activity_from": key, "neuropil_series": "", "neuropil_coefficient": 0.0}
        if kind == "dff" and str(rrs.unit).strip().lower() in ("%", "percent"):
            activity /= 100
        if kind == "fluorescence" and settings.neuropil_coefficient > 0:
            neuropil_key, neuropil = _neuropil(path, traces, rrs)
            if neuropil is not None:  # as suite2p users do: the surround's contamination removed
                activity -= np.float32(settings.neuropil_coefficient) * _values(neuropil)
                provenance.update(neuropil_series=neuropil_key, neuropil_coefficient=settings.neuropil_coefficient)
        times, fps = _frame_times(path, rrs, T)
        plane = rrs.rois.table
        xyz, provenance["positions_from"] = _centroids(path, nwb, plane, settings)
        cell_id = np.asarray(plane.id.data[:], dtype=np.int64)[rows]
        is_cell, column = _cells(path, plane)
        keep, dropped = np.ones(len(rows), bool), {}
        if is_cell is None:
            kept_by = "all (the file marks no ROI as cell or not)"
        elif settings.rois == "all":
            kept_by = f"all (nwb.rois: all; {int(is_cell[rows].sum())} marked as cells in column {column})"
        else:
            keep, kept_by = is_cell[rows], f"the cells of column {column}"
            dropped = {"not_a_cell": int((~keep).sum())}
            if not keep.any():
                raise InputError(
                    path, f"no ROI of {rrs.name} is marked as a cell (column {column}): nwb.rois: all reads every ROI"
                )
        provenance.update(neurons_in_file=len(rows), neurons_kept=int(keep.sum()), neurons_kept_by=kept_by)
        stimulus, names = _stimulus(path, nwb, times, fps)
        behavior, behavior_names, behavior_problem = _behavior(path, nwb, T)
    return check(
        Recording(
            source=path,
            subject=subject,
            kind=kind,
            fps=fps,
            activity=np.ascontiguousarray(activity[:, keep]),
            xyz_um=xyz[rows][keep].astype(np.float32),
            cell_id=cell_id[keep],
            stimulus=stimulus,
            stimulus_names=names,
            behavior=behavior,
            behavior_names=behavior_names,
            behavior_problem=behavior_problem,
            dropped=dropped,
            provenance=provenance,
        )
    )


def write_nwb(path: str | Path, rec: Recording, voxel_um=(1.0, 1.0, 1.0)) -> None:
    """Write a recording as NWB (atomically): its activity as a Fluorescence (kind fluorescence)
    or DfOverF (kind dff) RoiResponseSeries at its frame rate; each ROI's position as a voxel mask
    over the 8 voxels around it, weighted by its share of each (the weighted centroid is the
    position, to float precision), on a grid of `voxel_um`; the stimulus as a TimeIntervals table
    `stimulus` (one interval per run of frames where a column is on; columns must be 0/1); the
    behaviour as one TimeSeries per column in a BehavioralTimeSeries."""
    from datetime import datetime, timezone

    from sbm.io.atomic import atomic_path

    pynwb = _pynwb()
    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    if rec.kind == "activity":
        raise ValueError("NWB ophys series hold fluorescence or DF/F: write kind 'activity' as a table file")
    if rec.stimulus.size and not np.isin(rec.stimulus, (0, 1)).all():
        raise ValueError("write_nwb writes the stimulus as intervals: its columns must be 0/1")
    nwb = pynwb.NWBFile(
        session_description=f"{rec.subject}, exported from {rec.source}",
        identifier=rec.subject,
        session_start_time=datetime(2000, 1, 1, tzinfo=timezone.utc),
    )
    nwb.subject = pynwb.file.Subject(subject_id=rec.subject, species="Danio rerio")
    spacing = np.asarray(voxel_um, dtype=float)
    voxels = rec.xyz_um / spacing
    origin = np.floor(voxels.min(0)) - 1  # voxel indices are unsigned: the grid starts below every ROI
    voxels = voxels - origin
    plane_meta = nwb.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=OpticalChannel(name="green", description="indicator emission", emission_lambda=520.0),
        description="the whole recorded volume",
        device=nwb.create_device(name="microscope"),
        excitation_lambda=488.0,
        indicator="GCaMP",
        location="whole brain",
        imaging_rate=float(rec.fps),
        grid_spacing=(spacing * 1e-6).tolist(),
        grid_spacing_unit="meters",
        origin_coords=(origin * spacing * 1e-6).tolist(),
        origin_coords_unit="meters",
    )
    ophys = nwb.create_processing_module(name="ophys", description="optical physiology")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    plane = segmentation.create_plane_segmentation(
        name="PlaneSegmentation", description="one ROI per neuron", imaging_plane=plane_meta
    )
    base = np.floor(voxels).astype(np.int64)
    frac = voxels - base
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    for n in range(rec.n_neurons):
        weights = np.prod(np.where(corners == 1, frac[n], 1 - frac[n]), axis=1)
        plane.add_roi(
            id=int(rec.cell_id[n]),
            voxel_mask=[(*(base[n] + c).tolist(), float(w)) for c, w in zip(corners, weights)],
        )
    rois = plane.create_roi_table_region(region=list(range(rec.n_neurons)), description="every neuron")
    series = RoiResponseSeries(
        name="RoiResponseSeries",
        data=rec.activity,
        rois=rois,
        unit="a.u." if rec.kind == "fluorescence" else "fraction",
        rate=float(rec.fps),
        starting_time=0.0,
    )
    ophys.add(
        Fluorescence(roi_response_series=series) if rec.kind == "fluorescence" else DfOverF(roi_response_series=series)
    )
    if rec.stimulus.shape[1]:
        table = TimeIntervals(name="stimulus", description="visual stimulus presented, one row per run of frames")
        table.add_column(name=STIMULUS_COLUMN, description="which stimulus")
        for k, name in enumerate(rec.stimulus_names):
            on = np.concatenate([[0], rec.stimulus[:, k], [0]])
            edges = np.flatnonzero(np.diff(on))
            for a, b in zip(edges[::2], edges[1::2]):
                table.add_row(start_time=a / rec.fps, stop_time=b / rec.fps, **{STIMULUS_COLUMN: name})
        nwb.add_time_intervals(table)
    if rec.behavior is not None:
        behavior = nwb.create_processing_module(name="behavior", description="behaviour per frame")
        container = BehavioralTimeSeries(name="BehavioralTimeSeries")
        for k, name in enumerate(rec.behavior_names):
            container.create_timeseries(name=name, data=rec.behavior[:, k], unit="a.u.", rate=float(rec.fps))
        behavior.add(container)
    with atomic_path(path) as tmp:
        with pynwb.NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
