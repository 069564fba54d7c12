"""The code's form: Python formatted and linted by ruff, the workflow by snakefmt (the Snakemake
workflow catalog checks both), `snakemake --lint` clean (tests/test_workflow.py)."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYTHON = ["sbm", "scripts", "tests", "benchmarks"]


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return path


@pytest.mark.parametrize(
    "command",
    [["ruff", "format", "--check", *PYTHON], ["ruff", "check", *PYTHON], ["snakefmt", "--check", "workflow"]],
    ids=["ruff format", "ruff check", "snakefmt"],
)
def test_the_code_is_formatted_and_linted(command):
    proc = subprocess.run([tool(command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
