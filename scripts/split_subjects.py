"""Write the subject split (train / validation / held-out fish) from the config's `split` section.

    python scripts/split_subjects.py --subjects subject_1 ... subject_5 --settings '{"seed": 0}' --out split.yaml \
        [--probs results/synthetic/probs/subject_*.h5 --cluster-size 256]
"""

import argparse
import json
import sys

import yaml

from sbm.cli import run
from sbm.data.split import SplitConfig, check_neuron_counts, make_split
from sbm.io.atomic import atomic_path


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subjects", nargs="+", required=True)
    p.add_argument("--settings", default="{}", help="JSON: the config's `split` section")
    p.add_argument("--probs", nargs="*", default=[], help="probs files whose neuron counts are checked")
    p.add_argument("--cluster-size", type=int, default=0, help="the SBM's routed cluster size (0: no check)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    cfg = SplitConfig.from_dict(json.loads(args.settings))
    split = make_split(args.subjects, cfg)
    if args.cluster_size:
        check_neuron_counts(args.probs, args.cluster_size)
    with atomic_path(args.out) as tmp:
        tmp.write_text(yaml.safe_dump({"train": split.train, "val": split.val, "heldout": split.heldout, "seed": cfg.seed}, sort_keys=False))


if __name__ == "__main__":
    sys.exit(run(_main))
