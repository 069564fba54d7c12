"""Write the subject split (train / validation / held-out fish) from the config's `split` section.

    python scripts/split_subjects.py --subjects subject_1 ... subject_5 --settings '{"seed": 0}' --out split.yaml
"""

import argparse
import json
import sys

import yaml

from sbm.cli import run
from sbm.data.split import SplitConfig, make_split
from sbm.io.atomic import atomic_path


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subjects", nargs="+", required=True)
    p.add_argument("--settings", default="{}", help="JSON: the config's `split` section")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    cfg = SplitConfig.from_dict(json.loads(args.settings))
    split = make_split(args.subjects, cfg)
    with atomic_path(args.out) as tmp:
        tmp.write_text(yaml.safe_dump({"train": split.train, "val": split.val, "heldout": split.heldout, "seed": cfg.seed}, sort_keys=False))


if __name__ == "__main__":
    sys.exit(run(_main))
