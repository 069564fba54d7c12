"""The GitHub ground-truth downloader against a local fake GitHub (127.0.0.1 only, no internet).

The fake serves the contents API for a few dataset folders and their raw files (with Range
requests), and takes a per-URL script of faults (HTTP errors, truncated transfers, rate limits)
consumed one per request, so every retry/resume path is exercised deterministically.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from sbm.io.errors import InputError
from sbm.io.figshare import DownloadError
from sbm.io.github import download_dataset, git_blob_sha1, list_folder
from tests.conftest import run_script
from tests.fake_http import FakeServer, Handler, serve

REPO = Path(__file__).resolve().parents[1]
GH_REPO = "HelmchenLabSoftware/Cascade"
REF = "master"
ROOT = "Ground_truth"
DS_A = "DS06-GCaMP6f-zf-aDp"
DS_B = "DS07-GCaMP6f-zf-dD"
FAST = {"retries": 3, "backoff_s": 0.01}


def blob_sha(data: bytes) -> str:
    # Written out independently of sbm.io.github, so a bug there cannot hide in both.
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\x00" + data).hexdigest()


def fake_mat(name: str) -> bytes:
    # Incompressible and big enough that a "truncated" transfer cuts it in the middle.
    return b"MATLAB 5.0 MAT-file " + random.Random(name).randbytes(20_000)


class FakeGitHub(FakeServer):
    def __init__(self, base: str):
        super().__init__(base)
        self.api = f"{base}/api"
        self.folders: dict[str, list[dict]] = {}  # folder path in the repo -> listing
        self.blobs: dict[str, bytes] = {}  # raw URL path -> content

    def contents_path(self, folder: str) -> str:
        return f"/api/repos/{GH_REPO}/contents/{folder}"

    def raw_path(self, folder: str, name: str) -> str:
        return f"/raw/{GH_REPO}/{REF}/{folder}/{name}"

    def add_folder(self, folder: str) -> None:
        self.folders.setdefault(folder, [])

    def add_file(self, folder: str, name: str, data: bytes, sha: str | None = None) -> dict:
        raw = self.raw_path(folder, name)
        self.blobs[raw] = data
        entry = {
            "name": name,
            "path": f"{folder}/{name}",
            "sha": sha or blob_sha(data),
            "size": len(data),
            "type": "file",
            "download_url": self.base + raw,
            "url": f"{self.api}/repos/{GH_REPO}/contents/{folder}/{name}?ref={REF}",
        }
        self.folders.setdefault(folder, []).append(entry)
        return entry

    def add_dir(self, folder: str, name: str) -> None:
        self.folders.setdefault(folder, []).append(
            {"name": name, "path": f"{folder}/{name}", "sha": "0" * 40, "size": 0, "type": "dir", "download_url": None}
        )

    def entry_at(self, path: str) -> dict | None:
        return next((e for entries in self.folders.values() for e in entries if e["path"] == path), None)


class GitHubHandler(Handler):
    def route(self, path: str, query: dict, fault):
        prefix = f"/api/repos/{GH_REPO}/contents/"
        if fault == "rate_limit":
            self.send(
                403,
                b'{"message": "API rate limit exceeded for 127.0.0.1."}',
                {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000000"},
            )
        elif path.startswith(prefix) and query.get("ref") == REF and path[len(prefix) :] in self.fake.folders:
            self.send(200, json.dumps(self.fake.folders[path[len(prefix) :]]).encode())
        elif (
            path.startswith(prefix)
            and query.get("ref") == REF
            and (entry := self.fake.entry_at(path[len(prefix) :])) is not None
        ):
            self.send(200, json.dumps(entry).encode())  # a file: one object, not a list
        elif path.startswith("/api/"):
            self.send(404, b'{"message": "Not Found"}')
        elif path in self.fake.blobs:
            self.send_file(self.fake.blobs[path], fault)
        else:
            self.send_error(404)


@pytest.fixture
def fake():
    with serve(FakeGitHub, GitHubHandler) as gh:
        for k in (1, 2, 3):
            name = f"CAttached_GC_aDp_190501_Fish1_cell{k}_mini.mat"
            gh.add_file(f"{ROOT}/{DS_A}", name, fake_mat(name))
        for k in (1, 2):
            name = f"CAttached_GC_dD_190601_Fish2_cell{k}_mini.mat"
            gh.add_file(f"{ROOT}/{DS_B}", name, fake_mat(name))
        # Not part of the dataset: must be listed but neither downloaded nor published.
        gh.add_file(f"{ROOT}/{DS_B}", "README.md", b"notes\n")
        gh.add_dir(f"{ROOT}/{DS_B}", "extra")
        yield gh


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def expected_files(fake: FakeGitHub, dataset: str) -> dict[str, bytes]:
    return {
        e["name"]: fake.blobs[fake.raw_path(f"{ROOT}/{dataset}", e["name"])]
        for e in fake.folders[f"{ROOT}/{dataset}"]
        if e["name"].endswith(".mat")
    }


def fetch(fake: FakeGitHub, dataset: str, out_dir: Path, **kw) -> list[Path]:
    return download_dataset(fake.api, GH_REPO, REF, ROOT, dataset, out_dir, **{**FAST, **kw})


# ---- git blob SHA-1 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"hello\n", b"a\r\nb\x00\xff" * 1000, random.Random(0).randbytes(3 << 20)],
    ids=["empty", "text", "crlf-and-nul", "3MiB-random"],
)
def test_git_blob_sha1_matches_git_hash_object(tmp_path, data):
    path = tmp_path / "blob.mat"
    path.write_bytes(data)
    git = subprocess.run(
        ["git", "hash-object", "--no-filters", str(path)], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout.strip()
    assert len(git) == 40
    assert git_blob_sha1(path) == git == blob_sha(data)
    assert git_blob_sha1(path, chunk_bytes=7) == git  # the chunking does not change it


def test_git_blob_sha1_of_a_tracked_file_matches_the_git_index():
    # A real file of this checkout: what git stores for it is what the contents API would list.
    path = REPO / "sbm" / "io" / "figshare.py"
    git = subprocess.run(
        ["git", "hash-object", "--no-filters", str(path)], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.strip()
    assert git_blob_sha1(path) == git


# ---- listing -----------------------------------------------------------------------------


def test_list_folder_returns_files_only(fake):
    files = list_folder(fake.api, GH_REPO, REF, f"{ROOT}/{DS_B}", **FAST)
    assert [f["name"] for f in files] == [
        "CAttached_GC_dD_190601_Fish2_cell1_mini.mat",
        "CAttached_GC_dD_190601_Fish2_cell2_mini.mat",
        "README.md",
    ]
    first = files[0]
    data = fake.blobs[fake.raw_path(f"{ROOT}/{DS_B}", first["name"])]
    assert first["sha"] == blob_sha(data) and first["size"] == len(data)
    assert first["download_url"] == fake.base + fake.raw_path(f"{ROOT}/{DS_B}", first["name"])
    [(_, query, _)] = fake.requests_to(fake.contents_path(f"{ROOT}/{DS_B}"))
    assert query == {"ref": REF}


def test_list_folder_rate_limit_fails_at_once(fake):
    fake.faults[fake.contents_path(f"{ROOT}/{DS_A}")] = ["rate_limit"]
    with pytest.raises(
        DownloadError,
        match=rf"contents/{ROOT}/{DS_A}\?ref={REF}: HTTP 403: "
        r"GitHub API rate limit exceeded.*2023-11-14 22:13:20",
    ):
        list_folder(fake.api, GH_REPO, REF, f"{ROOT}/{DS_A}", **FAST)
    assert len(fake.requests_to(fake.contents_path(f"{ROOT}/{DS_A}"))) == 1


def test_list_folder_gives_up_on_persistent_server_errors(fake):
    fake.faults[fake.contents_path(f"{ROOT}/{DS_A}")] = [502] * 10
    with pytest.raises(DownloadError, match=rf"contents/{ROOT}/{DS_A}.*4 attempts.*HTTP 502"):
        list_folder(fake.api, GH_REPO, REF, f"{ROOT}/{DS_A}", **FAST)
    assert len(fake.requests_to(fake.contents_path(f"{ROOT}/{DS_A}"))) == 4


def test_list_folder_rejects_a_file_path_and_a_bad_repo(fake):
    with pytest.raises(InputError, match="repository must be given as owner/name"):
        list_folder(fake.api, "Cascade", REF, ROOT, **FAST)
    assert fake.requests == []
    path = fake.folders[f"{ROOT}/{DS_A}"][0]["path"]
    with pytest.raises(InputError, match=rf"contents/{path}\?ref={REF}: '{path}' is a file"):
        list_folder(fake.api, GH_REPO, REF, path, **FAST)


# ---- downloading a dataset ---------------------------------------------------------------


def test_happy_path_downloads_and_verifies(fake, tmp_path):
    out = tmp_path / "gt"
    paths_a = fetch(fake, DS_A, out)
    paths_b = fetch(fake, DS_B, out)
    for dataset, paths in ((DS_A, paths_a), (DS_B, paths_b)):
        want = expected_files(fake, dataset)
        assert paths == sorted(out / dataset / name for name in want)
        assert {p.name: p.read_bytes() for p in paths} == want
        listed = {e["name"]: e["sha"] for e in fake.folders[f"{ROOT}/{dataset}"]}
        assert all(git_blob_sha1(p) == listed[p.name] for p in paths)
    # Only the .mat files, and no temporary folder or .part file left behind.
    assert files_under(out) == sorted(paths_a + paths_b)
    assert sorted(p.name for p in out.iterdir()) == [DS_A, DS_B]
    assert fake.requests_to(fake.raw_path(f"{ROOT}/{DS_B}", "README.md")) == []


def test_wrong_sha_publishes_no_dataset_folder(fake, tmp_path):
    entry = fake.folders[f"{ROOT}/{DS_A}"][1]
    entry["sha"] = "0" * 40
    out = tmp_path / "gt"
    with pytest.raises(
        DownloadError,
        match=rf"{entry['name']}: download failed after 3 attempts"
        r".*git blob SHA-1 mismatch: expected 0{40}",
    ):
        fetch(fake, DS_A, out, retries=2)
    assert len(fake.requests_to(fake.raw_path(f"{ROOT}/{DS_A}", entry["name"]))) == 3
    assert not (out / DS_A).exists()
    # What was verified stays hidden for a rerun; the bad file left nothing, not even a .part.
    assert [p.name for p in files_under(out)] == [fake.folders[f"{ROOT}/{DS_A}"][0]["name"]]
    assert all(p.parent.name.startswith(".") for p in files_under(out))


def test_wrong_size_publishes_no_dataset_folder(fake, tmp_path):
    fake.folders[f"{ROOT}/{DS_A}"][0]["size"] += 1
    with pytest.raises(DownloadError, match=r"cell1_mini\.mat: .*size 20020 != expected 20021"):
        fetch(fake, DS_A, tmp_path, retries=1)
    assert not (tmp_path / DS_A).exists()


def test_truncated_transfer_resumes(fake, tmp_path):
    name = fake.folders[f"{ROOT}/{DS_A}"][2]["name"]
    raw = fake.raw_path(f"{ROOT}/{DS_A}", name)
    size = len(fake.blobs[raw])
    fake.faults[raw] = ["truncate"]
    paths = fetch(fake, DS_A, tmp_path)
    assert {p.name: p.read_bytes() for p in paths} == expected_files(fake, DS_A)
    ranges = [r for _, _, r in fake.requests_to(raw)]
    assert ranges == [None, f"bytes={size - size // 2}-"]  # resumed where it broke
    assert files_under(tmp_path) == paths


def test_missing_dataset_is_a_clear_error_after_one_request(fake, tmp_path):
    with pytest.raises(
        InputError,
        match=rf"contents/{ROOT}/DS99-nope\?ref={REF}: HTTP 404: "
        rf"folder '{ROOT}/DS99-nope' does not exist in {GH_REPO}",
    ):
        fetch(fake, "DS99-nope", tmp_path)
    assert len(fake.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_wrong_ref_is_a_404(fake, tmp_path):
    with pytest.raises(InputError, match=r"at ref 'no-such-branch'"):
        download_dataset(fake.api, GH_REPO, "no-such-branch", ROOT, DS_A, tmp_path, **FAST)
    assert len(fake.requests) == 1


def test_server_errors_then_success(fake, tmp_path):
    listing = fake.contents_path(f"{ROOT}/{DS_A}")
    raw = fake.raw_path(f"{ROOT}/{DS_A}", fake.folders[f"{ROOT}/{DS_A}"][0]["name"])
    fake.faults[listing] = [500]
    fake.faults[raw] = [500, 503]
    paths = fetch(fake, DS_A, tmp_path)
    assert {p.name: p.read_bytes() for p in paths} == expected_files(fake, DS_A)
    assert len(fake.requests_to(listing)) == 2
    assert len(fake.requests_to(raw)) == 3


def test_file_404_fails_at_once_and_a_rerun_resumes(fake, tmp_path):
    entries = fake.folders[f"{ROOT}/{DS_A}"]
    raws = [fake.raw_path(f"{ROOT}/{DS_A}", e["name"]) for e in entries]
    fake.faults[raws[1]] = [404]
    with pytest.raises(DownloadError, match=rf"{entries[1]['name']}: HTTP 404"):
        fetch(fake, DS_A, tmp_path)
    assert len(fake.requests_to(raws[1])) == 1 and not (tmp_path / DS_A).exists()
    paths = fetch(fake, DS_A, tmp_path)
    assert {p.name: p.read_bytes() for p in paths} == expected_files(fake, DS_A)
    # The first file was verified by the failed run and is not fetched again.
    assert [len(fake.requests_to(r)) for r in raws] == [1, 2, 1]


def test_leftovers_of_an_earlier_listing_are_not_published(fake, tmp_path):
    # An interrupted run against an older listing left a file that is no longer listed.
    hidden = tmp_path / f".{DS_A}.download"
    hidden.mkdir()
    (hidden / "CAttached_removed_upstream.mat").write_bytes(b"old")
    (hidden / "CAttached_removed_upstream.mat.part").write_bytes(b"ol")
    paths = fetch(fake, DS_A, tmp_path)
    assert {p.name: p.read_bytes() for p in files_under(tmp_path)} == expected_files(fake, DS_A)
    assert files_under(tmp_path) == paths and not hidden.exists()


def test_existing_complete_folder_makes_no_requests(fake, tmp_path):
    first = fetch(fake, DS_A, tmp_path)
    with fake.lock:
        fake.requests.clear()
    assert fetch(fake, DS_A, tmp_path) == first
    assert fake.requests == []
    # Even with an unreachable server: nothing is contacted.
    again = download_dataset("http://127.0.0.1:9", GH_REPO, REF, ROOT, DS_A, tmp_path, **FAST)
    assert again == first


def test_folder_without_mat_files(fake, tmp_path):
    fake.add_file(f"{ROOT}/DS98-empty", "README.md", b"nothing here\n")
    with pytest.raises(InputError, match=r"DS98-empty.*no \.mat files \(found: README\.md\)"):
        fetch(fake, "DS98-empty", tmp_path)
    fake.add_folder(f"{ROOT}/DS97-void")
    with pytest.raises(InputError, match=r"DS97-void.*no \.mat files \(found: no files\)"):
        fetch(fake, "DS97-void", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unsafe_names_are_refused(fake, tmp_path):
    with pytest.raises(InputError, match=r"dataset name '\.\./x' is not a plain file name"):
        fetch(fake, "../x", tmp_path)
    fake.add_file(f"{ROOT}/DS96-evil", "../evil.mat", b"x")
    with pytest.raises(InputError, match=r"DS96-evil.*file name '\.\./evil\.mat' is not a plain"):
        fetch(fake, "DS96-evil", tmp_path / "gt")
    assert files_under(tmp_path) == []


def test_lfs_pointer_is_refused(fake, tmp_path):
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 123456\n"
    fake.add_file(f"{ROOT}/DS95-lfs", "cell1.mat", pointer)
    with pytest.raises(InputError, match=r"cell1\.mat: is a Git LFS pointer"):
        fetch(fake, "DS95-lfs", tmp_path)
    assert not (tmp_path / "DS95-lfs").exists()


# ---- command line ------------------------------------------------------------------------


def cli_args(fake: FakeGitHub, tmp_path: Path, *datasets: str) -> list[str]:
    return [
        "--api-url",
        fake.api,
        "--repo",
        GH_REPO,
        "--ref",
        REF,
        "--path",
        ROOT,
        "--datasets",
        *datasets,
        "--out-dir",
        str(tmp_path / "gt"),
        "--manifest",
        str(tmp_path / "manifest.json"),
        "--retries",
        "2",
        "--backoff-s",
        "0.01",
    ]


def test_cli_writes_files_and_manifest(fake, tmp_path):
    assert run_script("download_ground_truth", cli_args(fake, tmp_path, DS_A, DS_B, DS_A)) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {k: manifest[k] for k in ("repo", "ref", "path")} == {"repo": GH_REPO, "ref": REF, "path": ROOT}
    assert list(manifest["datasets"]) == [DS_A, DS_B]
    for dataset in (DS_A, DS_B):
        listed = {e["name"]: e for e in fake.folders[f"{ROOT}/{dataset}"] if e["name"].endswith(".mat")}
        got = manifest["datasets"][dataset]
        assert got["folder"] == str(tmp_path / "gt" / dataset)
        assert got["files"] == [{"name": n, "sha": listed[n]["sha"], "size": listed[n]["size"]} for n in sorted(listed)]
        assert {p.name: p.read_bytes() for p in files_under(tmp_path / "gt" / dataset)} == expected_files(fake, dataset)


def test_cli_failure_exits_1_with_error_line_and_no_manifest(fake, tmp_path, capsys):
    assert run_script("download_ground_truth", cli_args(fake, tmp_path, DS_A, "DS99-nope")) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: ") and "DS99-nope" in err and "HTTP 404" in err
    assert not (tmp_path / "manifest.json").exists()
    assert (tmp_path / "gt" / DS_A).is_dir()  # the dataset that worked is kept for the rerun


def test_cli_runs_as_a_script(fake, tmp_path):
    # As a Snakemake job runs it: a separate process, with the checkout on PYTHONPATH.
    env = dict(os.environ, PYTHONPATH=str(REPO))
    script = [sys.executable, str(REPO / "scripts" / "download_ground_truth.py")]
    proc = subprocess.run(
        [*script, *cli_args(fake, tmp_path, DS_B)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads((tmp_path / "manifest.json").read_text())["datasets"]) == [DS_B]
    fake.faults[fake.contents_path(f"{ROOT}/{DS_A}")] = ["rate_limit"]
    proc = subprocess.run(
        [*script, *cli_args(fake, tmp_path, DS_A)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"contents/{ROOT}/{DS_A}" in last
    assert "rate limit exceeded" in last
