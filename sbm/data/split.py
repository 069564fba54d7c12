"""The subject split: train, validation and held-out fish, never sharing a fish.

The held-out fish is used for nothing but the final evaluation: not for training, not for model
selection (that is what the validation fish is for), not for any normalisation statistic.
"""

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sbm.io.contracts import PROBS, open_checked
from sbm.io.errors import InputError
from sbm.settings import from_dict


@dataclass
class SplitConfig:
    """The config's `split` section: explicit lists, or a seeded random draw of the sizes given."""

    train: tuple = ()  # explicit lists; if all three are empty, the split is drawn at random
    val: tuple = ()
    heldout: tuple = ()
    n_val: int = 1  # random split: number of validation fish
    n_heldout: int = 1  # random split: number of held-out fish
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "SplitConfig":
        return from_dict(cls, d, "split")


@dataclass
class Split:
    train: list = field(default_factory=list)
    val: list = field(default_factory=list)
    heldout: list = field(default_factory=list)


def make_split(subjects: list[str], cfg: SplitConfig) -> Split:
    """The split of `subjects`; a ValueError explains any overlap or unknown fish."""
    if cfg.train or cfg.val or cfg.heldout:
        split = Split(list(cfg.train), list(cfg.val), list(cfg.heldout))
    else:
        if cfg.n_val + cfg.n_heldout >= len(subjects):
            raise ValueError(
                f"{len(subjects)} subjects cannot give {cfg.n_val} validation and {cfg.n_heldout} held-out "
                "fish and still leave one to train on"
            )
        order = list(subjects)
        random.Random(cfg.seed).shuffle(order)
        split = Split(
            sorted(order[cfg.n_val + cfg.n_heldout :], key=_natural),
            sorted(order[: cfg.n_val], key=_natural),
            sorted(order[cfg.n_val : cfg.n_val + cfg.n_heldout], key=_natural),
        )
    check_split(split, subjects)
    return split


def check_split(split: Split, subjects: list[str]) -> None:
    for name in ("train", "val", "heldout"):
        part = getattr(split, name)
        if not part:
            raise ValueError(f"the split has no {name} fish")
        if len(set(part)) != len(part):
            raise ValueError(f"the split lists a fish twice in {name}: {part}")
        unknown = sorted(set(part) - set(subjects))
        if unknown:
            raise ValueError(f"split {name} fish {unknown} are not among the config's subjects")
    for a, b in (("train", "heldout"), ("val", "heldout"), ("train", "val")):
        both = sorted(set(getattr(split, a)) & set(getattr(split, b)))
        if both:
            raise ValueError(
                f"fish {both} appear in both {a} and {b}: the held-out fish must be unseen and the "
                "validation fish distinct"
            )


def read_split(path) -> Split:
    """A split file (the split rule's output), refused unless it names train, validation and
    held-out fish with no fish in two parts."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise InputError(path, f"cannot be read as a split: {err}") from err
    split = Split(*(list(data.get(part) or []) for part in ("train", "val", "heldout")))
    try:
        check_split(split, split.train + split.val + split.heldout)
    except ValueError as err:
        raise InputError(path, str(err)) from err
    return split


def split_files(split: Split, part: str, files: list, split_path) -> list:
    """`files` (probs files) in the split's order, refused unless they are exactly the fish of the
    split's `part` (by their `subject` attribute): the files a job reads are the split's."""
    by_subject = {}
    for path in files:
        with open_checked(path, PROBS) as f:
            by_subject[str(f.attrs["subject"])] = path
    wanted = getattr(split, part)
    if sorted(by_subject) != sorted(wanted) or len(by_subject) != len(files):
        raise InputError(
            split_path,
            f"its {part} fish are {wanted}, but the probs files given hold {sorted(by_subject)}: "
            f"{[str(f) for f in files]}",
        )
    return [by_subject[s] for s in wanted]


def _natural(subject: str) -> list:
    """Sort key that orders the numbers in names as numbers (subject_2 before subject_10, fish_a2
    before fish_a10), for any name the config's subjects accept."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", subject)]
