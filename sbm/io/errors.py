"""One exception type for bad input, so that scripts can show a clean one-line message."""

from pathlib import Path


class InputError(ValueError):
    """A file (or config value) is malformed. The message always names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
