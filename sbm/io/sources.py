"""Each fish's file of the table and nwb sources, read by its suffix."""

from pathlib import Path

from sbm.io import nwb, table
from sbm.io.errors import InputError
from sbm.io.nwb import NWBSettings
from sbm.io.recording import Recording


def read_recording(path: str | Path, subject: str | None = None, nwb_settings: NWBSettings | None = None) -> Recording:
    """One fish's table or NWB file, by its suffix (`nwb_settings`: the config's `nwb`)."""
    path = Path(path)
    if path.suffix == ".nwb":
        return nwb.read_nwb(path, subject, nwb_settings)
    if path.suffix in table.SUFFIXES:
        return table.read_table(path, subject)
    raise not_a_recording(path)


def recording_stimulus_names(path: str | Path, nwb_settings: NWBSettings | None = None) -> tuple:
    """The stimulus names of one fish's table or NWB file (for the dataset's vocabulary)."""
    path = Path(path)
    if path.suffix == ".nwb":
        return nwb.stimulus_names(path, nwb_settings)  # without reading the activity
    if path.suffix in table.SUFFIXES:
        return table.stimulus_names(path)
    raise not_a_recording(path)


def not_a_recording(path: Path) -> InputError:
    return InputError(path, f"not a recording file: the suffix must be .nwb or one of {list(table.SUFFIXES)}")
