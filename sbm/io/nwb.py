"""Neurodata Without Borders (NWB) files, read and written with pynwb: one fish per file.

What is read (everything else in the file is left alone):
    activity   one RoiResponseSeries (data x conversion + offset, as for every series read) of an
               ophys `Fluorescence` (kind fluorescence) or `DfOverF`
               (kind dff; a unit of "%" or "percent" is divided by 100) container in any
               processing module; with several, the one named by `series` (its name or
               module/container/name), else the Fluorescence one if there is exactly one.
               Frames per second from its rate, or from evenly spaced timestamps.
    positions  the weighted centroid of each ROI's voxel, pixel or image mask in its
               PlaneSegmentation, in micrometres through the imaging plane's grid_spacing (and
               origin_coords, when given); a 2-D mask takes z from origin_coords (else 0).
    stimulus   every TimeSeries in the file's stimulus group (one column per series, or per
               column of a 2-D one, named <series>_<k>; at another rate than the frames, its
               last sample at or before each frame), and every TimeIntervals table with a
               `stimulus_name` column (one 0/1 column per name: on for the frames whose time
               falls in one of its intervals).
    behaviour  every TimeSeries of every BehavioralTimeSeries container, one sample per frame
               (otherwise the behaviour stages refuse the fish and say why; the others run).
"""

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from sbm.io.errors import InputError
from sbm.io.recording import Recording, check, fps_from_timestamps

log = logging.getLogger(__name__)
UNIT_TO_UM = {"meters": 1e6, "meter": 1e6, "m": 1e6, "millimeters": 1e3, "mm": 1e3, "micrometers": 1.0, "um": 1.0}
STIMULUS_COLUMN = "stimulus_name"


def _pynwb():
    import pynwb  # imported here: importing it takes seconds, and only NWB sources need it

    warnings.filterwarnings("ignore", module="hdmf")  # pynwb's notes on optional fields we leave empty
    warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")  # atomic_path's temporary name
    return pynwb


def _series(path, nwb, series: str | None):
    """The RoiResponseSeries to read and the kind of activity it holds."""
    pynwb = _pynwb()
    found = {}  # module/container/name -> (series, kind)
    for module in nwb.processing.values():
        for container in module.data_interfaces.values():
            if isinstance(container, (pynwb.ophys.Fluorescence, pynwb.ophys.DfOverF)):
                kind = "fluorescence" if isinstance(container, pynwb.ophys.Fluorescence) else "dff"
                for s in container.roi_response_series.values():
                    found[f"{module.name}/{container.name}/{s.name}"] = (s, kind)
    if not found:
        raise InputError(path, "no RoiResponseSeries in a Fluorescence or DfOverF container of any processing module")
    if series is not None:
        chosen = [key for key in found if series in (key, key.rsplit("/", 1)[1])]
        if len(chosen) != 1:
            raise InputError(path, f"{len(chosen)} RoiResponseSeries match {series!r}; found {sorted(found)}")
        return found[chosen[0]]
    fluorescence = [key for key, (_, kind) in found.items() if kind == "fluorescence"]
    if len(found) == 1 or len(fluorescence) == 1:
        return found[fluorescence[0] if fluorescence else next(iter(found))]
    raise InputError(path, f"several RoiResponseSeries {sorted(found)}: name one with the config's nwb.series")


def _to_um(path, values, unit, what) -> np.ndarray:
    if unit not in UNIT_TO_UM:
        raise InputError(path, f"{what} unit {unit!r} is not one of {sorted(UNIT_TO_UM)}")
    return np.asarray(values, dtype=float) * UNIT_TO_UM[unit]


def _centroids(path, plane) -> np.ndarray:
    """(ROIs, 3) positions in micrometres of a PlaneSegmentation's ROIs."""
    imaging = plane.imaging_plane
    if imaging.grid_spacing is None:
        raise InputError(path, f"positions missing: imaging plane {imaging.name!r} has no grid_spacing")
    spacing = _to_um(path, imaging.grid_spacing, imaging.grid_spacing_unit, "grid_spacing")
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
        starts = np.concatenate([[0], ends[:-1]])
        if np.any(ends <= starts):
            raise InputError(path, f"positions missing: {name} of ROI {int(np.argmax(ends <= starts))} is empty")
        total = np.add.reduceat(weight, starts)
        centre = np.add.reduceat(coords * weight[:, None], starts) / total[:, None]
    elif "image_mask" in columns:
        masks = np.asarray(plane["image_mask"].data[:], dtype=float)  # (ROIs, x, y[, z])
        grids = np.meshgrid(*[np.arange(n) for n in masks.shape[1:]], indexing="ij")
        total = masks.reshape(len(masks), -1).sum(1)
        centre = np.stack([(masks * g).reshape(len(masks), -1).sum(1) for g in grids], 1) / total[:, None]
    else:
        raise InputError(path, f"positions missing: PlaneSegmentation {plane.name!r} has no voxel, pixel or image mask")
    if np.any(total <= 0):
        raise InputError(path, f"positions missing: the mask of ROI {int(np.argmax(total <= 0))} has no weight")
    dims = centre.shape[1]
    if len(spacing) < dims:
        raise InputError(path, f"grid_spacing has {len(spacing)} values for {dims}-D masks")
    xyz = origin.copy()[None].repeat(len(centre), 0)
    xyz[:, :dims] += centre * spacing[:dims]
    return xyz


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
        raise InputError(path, f"cannot be read as NWB ({type(err).__name__}: {err})") from err


def stimulus_names(path: str | Path, series: str | None = None) -> tuple:
    """The stimulus column names of an NWB file, its activity left unread (for the vocabulary)."""
    path = Path(path)
    with _opened(path) as nwb:
        rrs, _ = _series(path, nwb, series)
        times, fps = _frame_times(path, rrs, rrs.data.shape[0])
        return _stimulus(path, nwb, times, fps)[1]


def read_nwb(path: str | Path, subject: str | None = None, series: str | None = None) -> Recording:
    """Read and check one fish's NWB file; `subject` defaults to the file's name."""
    path = Path(path)
    with _opened(path) as nwb:
        rrs, kind = _series(path, nwb, series)
        activity = _values(rrs)
        if activity.ndim != 2:
            raise InputError(path, f"{rrs.name} must be frames x ROIs, got shape {activity.shape}")
        T = activity.shape[0]
        if kind == "dff" and str(rrs.unit).strip().lower() in ("%", "percent"):
            activity /= 100
        times, fps = _frame_times(path, rrs, T)
        rows = np.asarray(rrs.rois.data[:], dtype=np.int64)
        plane = rrs.rois.table
        if activity.shape[1] != len(rows):
            raise InputError(path, f"{rrs.name} has {activity.shape[1]} columns for {len(rows)} ROIs")
        xyz = _centroids(path, plane)[rows]
        cell_id = np.asarray(plane.id.data[:], dtype=np.int64)[rows]
        stimulus, names = _stimulus(path, nwb, times, fps)
        behavior, behavior_names, behavior_problem = _behavior(path, nwb, T)
    return check(
        Recording(
            source=path,
            subject=subject or path.stem,
            kind=kind,
            fps=fps,
            activity=activity,
            xyz_um=xyz.astype(np.float32),
            cell_id=cell_id,
            stimulus=stimulus,
            stimulus_names=names,
            behavior=behavior,
            behavior_names=behavior_names,
            behavior_problem=behavior_problem,
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
