"""Build one stimulus vocabulary across every fish of the dataset (stim_full codes -> one-hot columns).

    python scripts/stimulus_vocabulary.py --data-full raw/subject_*/data_full.mat --out vocabulary.json
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from sbm.cli import run
from sbm.io.atomic import write_json
from sbm.io.chen import read_stim_codes
from sbm.spikes.dff import build_vocabulary


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-full", nargs="+", required=True, help="data_full.mat of every fish (folder name = subject)")
    p.add_argument("--names", default="{}", help="JSON object: stimulus code -> name")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    codes = {Path(f).parent.name: read_stim_codes(Path(f).parent) for f in args.data_full}
    vocabulary = build_vocabulary(codes, json.loads(args.names))
    write_json(args.out, vocabulary)
    logging.info("%d stimulus codes across %d fish: %s", len(vocabulary["codes"]), len(codes), vocabulary["names"])


if __name__ == "__main__":
    sys.exit(run(_main))
