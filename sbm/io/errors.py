"""The exceptions scripts turn into a clean one-line message: bad input, a download that gave up."""

from pathlib import Path


class InputError(ValueError):
    """A file (or config value) is malformed. The message always names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DownloadError(RuntimeError):
    """A transfer failed for good (retries spent, or an HTTP error that retrying cannot fix)."""
