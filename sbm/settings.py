"""Settings dataclasses are filled from config sections: one helper, so unknown keys always fail."""

from dataclasses import fields


def from_dict(cls, values: dict, what: str):
    """An instance of dataclass `cls` from a config section; lists become tuples (hashable,
    like the defaults). An unknown key is an error that lists the known ones."""
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {what} settings {sorted(unknown)}; known: {sorted(known)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
