"""A folder of your own recordings checked before anything runs: every fish read as the pipeline
will read it (the same readers and config settings), one line per fish, so that every problem is
known at once rather than one failed job at a time (scripts/check_recordings.py).

Each fish: its file is found (exactly one <subject>.<suffix> in raw_dir), readable, with positions,
a frame rate, the neurons kept (cells, neuropil) and its stimulus and behaviour columns. Across the
fish: their frame rates against sbm.train.fps_tolerance (training refuses a fish further from the
median), their kinds (all enter at the same stage), and the behaviour columns pnm.behaviors asks for.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sbm.io.errors import InputError
from sbm.io.nwb import NWBSettings
from sbm.io.recording import Recording
from sbm.io.sources import read_recording
from sbm.io.table import SUFFIXES as TABLE_SUFFIXES

SUFFIXES = {"table": TABLE_SUFFIXES, "nwb": (".nwb",)}


@dataclass
class FishCheck:
    subject: str
    problems: list = field(default_factory=list)
    summary: str = ""  # what was read, when the file could be read

    def line(self) -> str:
        if not self.problems:
            return f"{self.subject}: ok: {self.summary}"
        read = f" (read: {self.summary})" if self.summary else ""
        return f"{self.subject}: PROBLEM: {'; '.join(self.problems)}{read}"


def _summary(rec: Recording) -> str:
    p = rec.provenance
    kept = f"{rec.n_neurons} of {p.get('neurons_in_file', rec.n_neurons)} neurons"
    if p.get("neurons_kept_by"):
        kept += f" ({p['neurons_kept_by']})"
    if p.get("neuropil_series"):
        kept += f", F - {p['neuropil_coefficient']:g} x {p['neuropil_series']}"
    low, high = rec.xyz_um.min(0), rec.xyz_um.max(0)
    extent = " ".join(f"{axis} {a:.1f}-{b:.1f}" for axis, a, b in zip("xyz", low, high))
    stimulus = ", ".join(rec.stimulus_names) or "none"
    behavior = ", ".join(rec.behavior_names) if rec.behavior is not None else f"none ({rec.behavior_problem})"
    return (
        f"{rec.n_frames} frames at {rec.fps:.3f} Hz ({rec.kind}), {kept}, positions {extent} um,"
        f" stimulus: {stimulus}, behaviour: {behavior}"
    )


def check_recordings(config: dict) -> list[FishCheck]:
    """Every fish of the config (source table or nwb), read and checked: one FishCheck each."""
    source = config["source"]
    if source not in SUFFIXES:
        raise InputError("source", f"checks your own recordings (source table or nwb), not source {source!r}")
    if not config.get("raw_dir"):
        raise InputError("raw_dir", f"source {source} reads the fish's files from raw_dir: set it to their folder")
    raw_dir = Path(config["raw_dir"])
    settings = NWBSettings.from_dict(config.get("nwb"))
    checks, fish = [], {}
    for subject in config["subjects"]:
        check = FishCheck(subject)
        checks.append(check)
        files = [f for f in (raw_dir / f"{subject}{suffix}" for suffix in SUFFIXES[source]) if f.is_file()]
        if len(files) != 1:
            wanted = "/".join(f"{subject}{suffix}" for suffix in SUFFIXES[source])
            found = f"several files {[f.name for f in files]}: keep one" if files else f"no file {wanted}"
            check.problems.append(f"{raw_dir}: {found}")
            continue
        try:
            rec = read_recording(files[0], subject, settings)
        except InputError as err:
            check.problems.append(str(err))
            continue
        fish[subject] = rec
        check.summary = _summary(rec)
    _across_fish(config, fish, {c.subject: c for c in checks})
    return checks


def _across_fish(config: dict, fish: dict[str, Recording], checks: dict[str, FishCheck]) -> None:
    """What no single file shows: frame rates far from the others', mixed entry stages, missing
    behaviour columns."""
    if not fish:
        return
    tolerance = config["sbm"]["train"]["fps_tolerance"]
    median = float(np.median([rec.fps for rec in fish.values()]))
    entries = {s: "probs" if rec.kind == "activity" else "dff" for s, rec in fish.items()}
    behaviors = list(config["pnm"]["behaviors"])
    for subject, rec in fish.items():
        problems = checks[subject].problems
        if abs(rec.fps - median) > tolerance * median:
            problems.append(
                f"frame rate {rec.fps:.3f} Hz is more than sbm.train.fps_tolerance ({tolerance:.0%}) from the fish's"
                f" median {median:.3f} Hz: training refuses it (resample it first)"
            )
        if len(set(entries.values())) > 1:
            others = sorted(s for s, e in entries.items() if e != entries[subject])
            problems.append(
                f"kind {rec.kind} enters at {entries[subject]}, {others} elsewhere: all fish must enter alike"
            )
        if behaviors:
            have = set(rec.behavior_names) if rec.behavior is not None else set()
            missing = [b for b in behaviors if b not in have]
            if missing:
                why = f" ({rec.behavior_problem})" if rec.behavior is None else ""
                problems.append(
                    f"behaviour {missing} of pnm.behaviors missing{why}: list the file's behaviour names there, or"
                    " set pnm.behaviors: [] (no behaviour stages)"
                )
