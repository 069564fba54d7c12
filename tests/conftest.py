"""Shared fixtures: small simulated fish, written once per test session."""

import importlib.util
import shutil
from pathlib import Path

import pytest

from sbm.synth.fish import SimConfig, simulate_fish

SMALL = SimConfig(n_neurons=300, n_frames=400, chunk_frames=64)


@pytest.fixture(scope="session")
def small_fish(tmp_path_factory):
    """One simulated fish in the Chen layout (read-only: copy it before changing anything)."""
    folder = tmp_path_factory.mktemp("raw") / "subject_1"
    simulate_fish(SMALL, "subject_1", folder)
    return folder


@pytest.fixture
def fish_copy(small_fish, tmp_path):
    """A private copy of the small fish that a test may damage."""
    folder = tmp_path / "subject_1"
    shutil.copytree(small_fish, folder)
    return folder


def load_script(name: str):
    """Import scripts/<name>.py as a module (scripts are not a package), to call its main()."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
