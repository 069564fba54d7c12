"""Write the fish of a Chen-layout dataset (the simulator's, or the real download) as table or NWB
files, one per fish, ready for `source: table` or `source: nwb`.

    python scripts/export_fish.py --config config/config.yaml --format nwb --out-dir resources/synthetic_nwb
    python scripts/export_fish.py --config config/config.yaml --format table --regions 40 --out-dir resources/regions

The config names the dataset (its raw_dir, or resources/<dataset>/raw), the fish (subjects), the
stimulus names and the reader's settings. --regions (simulated fish only) writes region-level
fish instead: k-means regions shared by every fish, each region's true probability of a spike
(sbm.io.export). Then point a config at the folder: `source: table` (or nwb), `raw_dir: <out-dir>`.
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.chen import read_chen_fish, read_stim_codes
from sbm.io.errors import InputError
from sbm.io.export import chen_recording, fit_regions, region_recording
from sbm.io.nwb import write_nwb
from sbm.io.table import write_table
from sbm.spikes.dff import build_vocabulary
from sbm.workflow import read_config


@dataclass(kw_only=True)
class Args(Command):
    config: Path = arg("the workflow config of the dataset to export")
    format: str = arg("table (HDF5), npz (a table as .npz) or nwb")
    out_dir: Path = arg("folder to write <subject>.h5 / .npz / .nwb into")
    regions: int = arg("write region-level fish with this many regions (simulated fish only); 0: every neuron", 0)


SUFFIX = {"table": ".h5", "npz": ".npz", "nwb": ".nwb"}


def main(args: Args) -> None:
    if args.format not in SUFFIX:
        raise InputError("--format", f"must be one of {sorted(SUFFIX)}, got {args.format!r}")
    config = read_config(args.config)
    if config["source"] not in ("synthetic", "chen2018"):
        raise InputError(args.config, f"exports fish of the Chen layout, not of source {config['source']!r}")
    raw = Path(config["raw_dir"] or f"resources/{config['dataset']}/raw")
    subjects = config["subjects"]
    vocabulary = build_vocabulary({s: read_stim_codes(raw / s) for s in subjects}, config["stimulus_names"])
    fish = [chen_recording(read_chen_fish(raw / s, s, **config["reader"]), vocabulary) for s in subjects]
    if args.regions:
        regions = fit_regions([f.xyz_um for f in fish], args.regions)
        fish = [region_recording(f, raw / f.subject / "ground_truth.h5", regions) for f in fish]
    for rec in fish:
        path = args.out_dir / f"{rec.subject}{SUFFIX[args.format]}"
        (write_nwb(path, rec, config["reader"]["voxel_size_um"]) if args.format == "nwb" else write_table(path, rec))
        logging.info(
            "%s: %s, %d x %d (%s) at %.3f Hz", path, rec.kind, rec.n_frames, rec.n_neurons, rec.subject, rec.fps
        )


if __name__ == "__main__":
    sys.exit(run(main, Args))
