"""Stage files: atomic writes that clean up after killed writers, and each layout's checks."""

import h5py
import numpy as np
import pytest

from sbm.io.atomic import atomic_path
from sbm.io.contracts import DFF, PROBS, open_checked
from sbm.io.errors import InputError


def test_a_write_removes_the_temporary_files_of_killed_writers(tmp_path):
    target = tmp_path / "subject_2.h5"
    strays = [tmp_path / ".subject_2.h5.tmp-30965", tmp_path / ".subject_2.h5.tmp-4"]
    other = tmp_path / ".subject_20.h5.tmp-7"  # another file's writer: left alone
    for path in strays + [other]:
        path.write_bytes(b"half a file")
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert not any(p.exists() for p in strays) and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".subject_20.h5.tmp-7", "subject_2.h5"]


def test_an_interrupted_write_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.h5") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def write(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f[name] = value
        f.attrs.update(subject="subject_1", fps=2.0, stimulus_names=["a", "b"])
    return path


GOOD = dict(
    prob=np.zeros((10, 4), np.float32), xyz=np.zeros((4, 3), np.float32), stimulus=np.zeros((10, 2), np.float32)
)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(xyz=np.zeros((5, 3))), r"xyz has shape \(5, 3\) but prob has 4 along N"),
        (dict(xyz=np.zeros((4, 2))), r"xyz has shape \(4, 2\), expected \('N', 3\)"),
        (dict(stimulus=np.zeros((10, 3))), "2 stimulus_names for 3 columns of stimulus"),
        (dict(behavior=np.zeros((9, 5))), r"behavior has shape \(9, 5\) but prob has 10 along T"),
        (dict(prob=np.zeros((10,))), "prob has shape \\(10,\\), expected 2 dimensions"),
    ],
)
def test_a_probs_file_that_breaks_its_layout_is_named(tmp_path, change, message):
    path = write(tmp_path / "subject_1.h5", **{**GOOD, **change})
    with pytest.raises(InputError, match=message) as err:
        with open_checked(path, PROBS):
            pass
    assert str(err.value).startswith(str(path))


def test_missing_attributes_and_optional_datasets(tmp_path):
    path = write(tmp_path / "p.h5", **GOOD)
    with open_checked(path, PROBS) as f:  # rate, cell_id, behaviour: optional
        assert f["prob"].shape == (10, 4)
    with pytest.raises(InputError, match=r"missing dataset\(s\) \['cell_id'\]: rerun the probabilities stage"):
        with open_checked(path, PROBS, require=("cell_id",)):
            pass
    with pytest.raises(
        InputError, match="p.h5: holds fish subject_1, not subject_2"
    ):  # a job given another fish's file
        with open_checked(path, PROBS, subject="subject_2"):
            pass
    with h5py.File(path, "r+") as f:
        del f.attrs["subject"]
    with pytest.raises(InputError, match=r"missing attribute\(s\) \['subject'\]"):
        with open_checked(path, PROBS):
            pass
    with pytest.raises(
        InputError,
        match=r"missing dataset\(s\) \['dff', 'noise_level', 'cell_id'\]: rerun the dff stage",
    ):
        with open_checked(path, DFF):
            pass
    (tmp_path / "cut.h5").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(InputError, match="cut.h5: cannot be read as HDF5"):
        with open_checked(tmp_path / "cut.h5", PROBS):
            pass


def test_results_are_refused_unless_they_have_their_declared_keys(tmp_path):
    from sbm.io.contracts import Connectome, read_result, write_result

    good = {"auroc": {"attention": 0.6}, "chance": 0.5, "windows": 4, "per_subject": {}, "layout": "target x source"}
    write_result(tmp_path / "c.json", good, Connectome)
    assert read_result(tmp_path / "c.json", Connectome) == good
    broken = {k: v for k, v in good.items() if k != "windows"} | {"extra": 1}
    with pytest.raises(
        InputError,
        match=r"x.json: not a Connectome result: keys \['auroc', 'chance', 'extra', 'layout', 'per_subject'\]",
    ):
        write_result(tmp_path / "x.json", broken, Connectome)
    assert not (tmp_path / "x.json").exists()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.json: cannot be read as JSON"):
        read_result(tmp_path / "bad.json", Connectome)


def test_groups_are_checked_when_written_and_read(tmp_path):
    from sbm.io.contracts import ROLLOUT_EXAMPLE, first_group, read_groups, write_groups

    fish = {
        "observed": np.zeros((7, 5), np.float32),
        "sbm": np.zeros((3, 5), np.float32),
        "xyz": np.zeros((5, 3), np.float32),
        "stimulus": np.zeros((7, 2), np.float32),
        "first_frame": 10,
        "context": 4,
        "fps": 2.0,
        "stimulus_names": ["a", "b"],
    }
    write_groups(tmp_path / "e.h5", {"subject_2": fish, "subject_3": fish}, ROLLOUT_EXAMPLE)
    assert list(read_groups(tmp_path / "e.h5", ROLLOUT_EXAMPLE)) == ["subject_2", "subject_3"]
    assert first_group(tmp_path / "e.h5", ROLLOUT_EXAMPLE)["first_frame"] == 10
    with pytest.raises(InputError, match=r"bad.h5:subject_2: sbm has shape \(3, 6\) but observed has 5 along N"):
        write_groups(tmp_path / "bad.h5", {"subject_2": {**fish, "sbm": np.zeros((3, 6), np.float32)}}, ROLLOUT_EXAMPLE)
    assert not (tmp_path / "bad.h5").exists()
