"""Write the subject split (train / validation / held-out fish) from the config's `split` section,
after checking every fish against the SBM's cluster size.

    python scripts/split_subjects.py --subjects subject_1 ... subject_5 --settings '{"seed": 0}' --out split.yaml \\
        [--probs results/synthetic/probs/subject_*.h5 --cluster-size 256]
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from sbm.cli import Command, arg, run
from sbm.data.split import SplitConfig, make_split
from sbm.io.atomic import atomic_path


@dataclass(kw_only=True)
class Args(Command):
    subjects: list[str] = arg("every fish of the dataset")
    settings: dict = arg("the config's `split` section", {})
    out: Path = arg("YAML: the split")


def main(args: Args) -> None:
    cfg = SplitConfig.from_dict(args.settings)
    split = make_split(args.subjects, cfg)
    with atomic_path(args.out) as tmp:
        tmp.write_text(
            yaml.safe_dump(
                {"train": split.train, "val": split.val, "heldout": split.heldout, "seed": cfg.seed}, sort_keys=False
            )
        )


if __name__ == "__main__":
    sys.exit(run(main, Args))
