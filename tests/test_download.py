"""The figshare downloader against a local fake figshare (127.0.0.1 only, no internet).

The fake serves the paged files API and a few small archives, supports Range requests, and
takes a per-URL script of faults (HTTP errors, truncated transfers, ignored Range headers)
consumed one per request, so every retry/resume path is exercised deterministically.
"""

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from sbm.io.errors import InputError
from sbm.io.figshare import (
    DownloadError,
    assign_subjects,
    download_file,
    fetch_subject,
    list_article_files,
    unpack_subject,
)
from tests.conftest import run_script
from tests.fake_http import FakeServer, Handler, serve

REPO = Path(__file__).resolve().parents[1]
ARTICLE = 7272617
PATTERN = r"(?i)^subject[_ -]?0*{n}(\D.*)?\.(zip|tar|tar\.gz|tgz)$"
N_FILLERS = 120  # with the 3 archives: 123 files, i.e. two pages of 100
FAST = {"backoff_s": 0.01}


def raw_contents(subject: str) -> dict[str, bytes]:
    return {"TimeSeries.h5": f"fake h5 of {subject}".encode(), "data_full.mat": f"fake mat of {subject}".encode()}


def make_zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def make_targz(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            t.addfile(info)
    return buf.getvalue()


def subject_archive(subject: str, folder: str | None, kind: str = "zip") -> bytes:
    members = {f"{folder}/{k}" if folder else k: v for k, v in raw_contents(subject).items()}
    # Incompressible padding so a "truncated" transfer really cuts the archive in the middle.
    members[f"{folder or '.'}/padding.bin"] = random.Random(subject).randbytes(20_000)
    return make_zip(members) if kind == "zip" else make_targz(members)


class FakeFigshare(FakeServer):
    def __init__(self, base: str):
        super().__init__(base)
        self.api = f"{base}/v2"
        self.blobs: dict[str, bytes] = {}
        self.listing: list[dict] = []

    def add_file(self, name: str, data: bytes, md5: str | None = None) -> dict:
        self.blobs[name] = data
        real = hashlib.md5(data).hexdigest()
        entry = {
            "id": 1000 + len(self.listing),
            "name": name,
            "size": len(data),
            "computed_md5": md5 or real,
            "supplied_md5": md5 or real,
            "download_url": f"{self.base}/files/{name}",
        }
        self.listing.append(entry)
        return entry


class FigshareHandler(Handler):
    def route(self, path: str, query: dict, fault):
        if path == f"/v2/articles/{ARTICLE}/files":
            page, size = int(query["page"]), int(query["page_size"])
            self.send(200, json.dumps(self.fake.listing[(page - 1) * size : page * size]).encode())
        elif path.startswith("/files/") and path[7:] in self.fake.blobs:
            self.send_file(self.fake.blobs[path[7:]], fault)
        else:
            self.send_error(404)


@pytest.fixture
def fake():
    with serve(FakeFigshare, FigshareHandler) as fig:
        fig.add_file("subject_1.zip", subject_archive("subject_1", "subject_1"))
        fig.add_file("subject_2.tar.gz", subject_archive("subject_2", "data/subject_2", "tar.gz"))
        fig.add_file("Subject 3.zip", subject_archive("subject_3", None))
        for k in range(N_FILLERS):
            fig.add_file(f"readme_{k}.txt", f"filler {k}".encode())
        yield fig


def entry(fake: FakeFigshare, name: str) -> dict:
    e = next(f for f in fake.listing if f["name"] == name)
    return {**e, "md5": e["computed_md5"]}


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


# ---- listing -----------------------------------------------------------------------------


def test_listing_reads_all_pages(fake):
    files = list_article_files(fake.api, ARTICLE, **FAST)
    assert len(files) == 3 + N_FILLERS
    assert [f["name"] for f in files] == [f["name"] for f in fake.listing]
    first = files[0]
    assert first["md5"] == hashlib.md5(fake.blobs["subject_1.zip"]).hexdigest()
    assert first["size"] == len(fake.blobs["subject_1.zip"])
    assert first["download_url"] == f"{fake.base}/files/subject_1.zip"
    pages = [q["page"] for _, q, _ in fake.requests_to(f"/v2/articles/{ARTICLE}/files")]
    assert pages == ["1", "2"]


def test_listing_falls_back_to_supplied_md5_and_rejects_missing(fake):
    fake.listing[0]["computed_md5"] = ""
    fake.listing[0]["supplied_md5"] = "ABCDEF0123456789ABCDEF0123456789"
    files = list_article_files(fake.api, ARTICLE, **FAST)
    assert files[0]["md5"] == "abcdef0123456789abcdef0123456789"
    fake.listing[1]["computed_md5"] = fake.listing[1]["supplied_md5"] = ""
    with pytest.raises(InputError, match=r"subject_2\.tar\.gz.*neither computed_md5"):
        list_article_files(fake.api, ARTICLE, **FAST)


def test_listing_retries_server_errors(fake):
    fake.faults[f"/v2/articles/{ARTICLE}/files"] = [500, 503]
    assert len(list_article_files(fake.api, ARTICLE, retries=3, **FAST)) == 3 + N_FILLERS
    assert len(fake.requests_to(f"/v2/articles/{ARTICLE}/files")) == 4  # 2 failures + 2 pages


def test_listing_404_fails_at_once(fake):
    with pytest.raises(DownloadError, match=r"articles/999/files.*HTTP 404"):
        list_article_files(fake.api, 999, retries=3, **FAST)
    assert len(fake.requests_to("/v2/articles/999/files")) == 1


# ---- subject assignment ------------------------------------------------------------------


def test_assign_subjects(fake):
    files = list_article_files(fake.api, ARTICLE, **FAST)
    got = assign_subjects(files, ["subject_1", "subject_2", "subject_3"], PATTERN)
    assert {s: f["name"] for s, f in got.items()} == {
        "subject_1": "subject_1.zip",
        "subject_2": "subject_2.tar.gz",
        "subject_3": "Subject 3.zip",
    }


def test_assign_subjects_missing_and_duplicate():
    files = [
        {"name": n} for n in ("subject_1.zip", "subject_10.zip", "subject_2.zip", "subject_02.tar.gz", "notes.txt")
    ]
    assert assign_subjects(files, ["subject_1"], PATTERN)["subject_1"]["name"] == "subject_1.zip"
    with pytest.raises(InputError, match=r"listing\.json: subject_9: .*found 0: none"):
        assign_subjects(files, ["subject_9"], PATTERN, source="listing.json")
    duplicate = r"subject_2: .*found 2: subject_2\.zip, subject_02\.tar\.gz"
    with pytest.raises(InputError, match=duplicate):
        assign_subjects(files, ["subject_2"], PATTERN, source="listing.json")
    with pytest.raises(InputError, match="not of the form"):
        assign_subjects(files, ["fish1"], PATTERN)


# ---- downloading -------------------------------------------------------------------------


def test_download_resumes_after_truncated_transfer(fake, tmp_path):
    e = entry(fake, "subject_1.zip")
    fake.faults["/files/subject_1.zip"] = ["truncate"]
    dest = download_file(e["download_url"], tmp_path / "subject_1.zip", e["md5"], e["size"], **FAST)
    assert dest.read_bytes() == fake.blobs["subject_1.zip"]
    ranges = [r for _, _, r in fake.requests_to("/files/subject_1.zip")]
    assert ranges == [None, f"bytes={e['size'] - e['size'] // 2}-"]  # resumed where it broke
    assert files_under(tmp_path) == [dest]  # no .part left behind


def test_download_restarts_when_server_ignores_range(fake, tmp_path):
    e = entry(fake, "subject_1.zip")
    fake.faults["/files/subject_1.zip"] = ["truncate", "ignore_range"]
    dest = download_file(e["download_url"], tmp_path / "subject_1.zip", e["md5"], e["size"], **FAST)
    assert hashlib.md5(dest.read_bytes()).hexdigest() == e["md5"]
    ranges = [r for _, _, r in fake.requests_to("/files/subject_1.zip")]
    # It asked for a range, got the whole file, and restarted cleanly: no third attempt.
    assert len(ranges) == 2 and ranges[1] is not None


def test_wrong_checksum_leaves_nothing_that_looks_complete(fake, tmp_path):
    fake.listing[0]["computed_md5"] = "0" * 32
    listing = list_article_files(fake.api, ARTICLE, **FAST)
    with pytest.raises(DownloadError, match=r"subject_1\.zip.*MD5 mismatch"):
        fetch_subject(listing, "subject_1", PATTERN, tmp_path / "raw", tmp_path / "dl", retries=2, **FAST)
    assert len(fake.requests_to("/files/subject_1.zip")) == 3  # each mismatch is an attempt
    assert files_under(tmp_path) == []  # no archive, no .part, no TimeSeries.h5


def test_download_retries_server_errors_then_succeeds(fake, tmp_path):
    e = entry(fake, "subject_2.tar.gz")
    fake.faults["/files/subject_2.tar.gz"] = [500, 503]
    dest = download_file(e["download_url"], tmp_path / "a.tgz", e["md5"], e["size"], retries=3, **FAST)
    assert dest.read_bytes() == fake.blobs["subject_2.tar.gz"]
    assert len(fake.requests_to("/files/subject_2.tar.gz")) == 3


def test_download_gives_up_on_persistent_server_errors(fake, tmp_path):
    e = entry(fake, "subject_2.tar.gz")
    fake.faults["/files/subject_2.tar.gz"] = [500] * 10
    with pytest.raises(DownloadError, match=r"/files/subject_2\.tar\.gz.*3 attempts.*HTTP 500"):
        download_file(e["download_url"], tmp_path / "a.tgz", e["md5"], e["size"], retries=2, **FAST)
    assert len(fake.requests_to("/files/subject_2.tar.gz")) == 3
    assert files_under(tmp_path) == []


def test_download_404_fails_without_retrying(fake, tmp_path):
    with pytest.raises(DownloadError, match=r"/files/gone\.zip: HTTP 404"):
        download_file(f"{fake.base}/files/gone.zip", tmp_path / "gone.zip", "0" * 32, 10, retries=4, **FAST)
    assert len(fake.requests_to("/files/gone.zip")) == 1
    assert files_under(tmp_path) == []


def test_download_skips_an_already_verified_file(fake, tmp_path):
    e = entry(fake, "subject_1.zip")
    dest = tmp_path / "subject_1.zip"
    download_file(e["download_url"], dest, e["md5"], e["size"], **FAST)
    download_file(e["download_url"], dest, e["md5"], e["size"], **FAST)
    assert len(fake.requests_to("/files/subject_1.zip")) == 1


# ---- unpacking ---------------------------------------------------------------------------


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_unpack_nested_folder(tmp_path, kind):
    archive = write(tmp_path / f"s.{kind}", subject_archive("subject_4", "a/b/subject_4", kind))
    out = tmp_path / "raw" / "subject_4"
    written = unpack_subject(archive, out)
    assert written == [out / "TimeSeries.h5", out / "data_full.mat"]
    assert {p.name: p.read_bytes() for p in files_under(out)} == raw_contents("subject_4")


def test_unpack_missing_member_writes_nothing(tmp_path):
    archive = write(tmp_path / "s.zip", make_zip({"subject_5/TimeSeries.h5": b"x"}))
    out = tmp_path / "raw" / "subject_5"
    with pytest.raises(InputError, match=r"s\.zip: .*data_full\.mat, found 0"):
        unpack_subject(archive, out)
    assert files_under(out) == []


def test_unpack_duplicate_member(tmp_path):
    archive = write(
        tmp_path / "s.zip", make_zip({"a/TimeSeries.h5": b"1", "b/TimeSeries.h5": b"2", "a/data_full.mat": b"3"})
    )
    with pytest.raises(InputError, match=r"h5, found 2: a/TimeSeries\.h5, b/TimeSeries\.h5"):
        unpack_subject(archive, tmp_path / "out")


def test_unpack_never_writes_outside_out_dir(tmp_path):
    out = tmp_path / "deep" / "raw" / "subject_6"
    # Extra members with traversal paths are simply not extracted.
    members = {**raw_contents("subject_6"), "../evil.txt": b"!", "../../../evil2.txt": b"!"}
    unpack_subject(write(tmp_path / "ok.zip", make_zip(members)), out)
    written = sorted(p.name for p in files_under(tmp_path / "deep"))
    assert written == ["TimeSeries.h5", "data_full.mat"]
    # A required member with a traversal path is refused outright.
    bad = {"../TimeSeries.h5": b"!", "data_full.mat": b"m"}
    with pytest.raises(InputError, match="unsafe path"):
        unpack_subject(write(tmp_path / "bad.zip", make_zip(bad)), tmp_path / "out2")
    assert not (tmp_path / "TimeSeries.h5").exists() and files_under(tmp_path / "out2") == []
    # A tar symlink named like a required file is not a regular file, so it is not followed.
    linked = make_targz({"s/TimeSeries.h5": b"t"}, links={"s/data_full.mat": "/etc/passwd"})
    with pytest.raises(InputError, match=r"data_full\.mat, found 0"):
        unpack_subject(write(tmp_path / "link.tar.gz", linked), tmp_path / "out3")
    assert files_under(tmp_path / "out3") == []


def test_unpack_corrupt_archives(tmp_path):
    contents = raw_contents("subject_7")
    good = make_zip(contents, compression=zipfile.ZIP_STORED)
    flipped = good.replace(contents["data_full.mat"], contents["data_full.mat"].upper())
    assert flipped != good
    with pytest.raises(InputError, match=r"crc\.zip: corrupt archive"):
        unpack_subject(write(tmp_path / "crc.zip", flipped), tmp_path / "out")
    assert files_under(tmp_path / "out") == []  # TimeSeries.h5 extracted fine but not published
    with pytest.raises(InputError, match=r"short\.zip: not a zip or tar"):
        unpack_subject(write(tmp_path / "short.zip", good[: len(good) // 2]), tmp_path / "out")
    tgz = make_targz({"s/padding.bin": random.Random(1).randbytes(50_000), **contents})
    with pytest.raises(InputError, match=r"short\.tar\.gz: "):
        unpack_subject(write(tmp_path / "short.tar.gz", tgz[: len(tgz) // 2]), tmp_path / "out")
    assert files_under(tmp_path / "out") == []


# ---- command line ------------------------------------------------------------------------


def fetch(listing, subject, raw, *extra):
    """download_chen2018.py's command line for one subject, its files going to raw/<subject>/."""
    return [
        "--listing",
        listing,
        "--subject",
        subject,
        "--pattern",
        PATTERN,
        "--timeseries",
        raw / subject / "TimeSeries.h5",
        "--data-full",
        raw / subject / "data_full.mat",
        *extra,
    ]


def test_cli_list_then_fetch(fake, tmp_path):
    listing = tmp_path / "listing.json"
    assert run_script("list_figshare", ["--api-url", fake.api, "--article-id", str(ARTICLE), "--out", listing]) == 0
    assert len(json.loads(listing.read_text())) == 3 + N_FILLERS
    raw = tmp_path / "raw"
    assert (
        run_script(
            "download_chen2018",
            fetch(
                listing, "subject_2", raw, "--download-dir", tmp_path / "dl", "--retries", "2", "--backoff-s", "0.01"
            ),
        )
        == 0
    )
    out = tmp_path / "raw" / "subject_2"
    assert {p.name: p.read_bytes() for p in files_under(out)} == raw_contents("subject_2")
    assert not (tmp_path / "dl" / "subject_2.tar.gz").exists()  # removed once unpacked
    assert (
        run_script(
            "download_chen2018",
            fetch(
                listing, "subject_1", raw, "--download-dir", tmp_path / "dl", "--keep-archive", "--backoff-s", "0.01"
            ),
        )
        == 0
    )
    assert (tmp_path / "dl" / "subject_1.zip").read_bytes() == fake.blobs["subject_1.zip"]


def test_cli_failures_exit_1_with_error_line(fake, tmp_path, capsys):
    listing = tmp_path / "listing.json"
    assert run_script("list_figshare", ["--api-url", fake.api, "--article-id", str(ARTICLE), "--out", listing]) == 0
    raw, options = tmp_path / "raw", ["--download-dir", tmp_path / "dl", "--backoff-s", "0.01"]
    capsys.readouterr()
    assert run_script("download_chen2018", fetch(listing, "subject_9", raw, *options)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "listing.json" in err and "subject_9" in err
    fake.faults["/files/subject_1.zip"] = [404]
    assert run_script("download_chen2018", fetch(listing, "subject_1", raw, *options)) == 1
    assert "error: " in capsys.readouterr().err and not (tmp_path / "raw").exists()
    assert run_script("list_figshare", ["--api-url", fake.api, "--article-id", "1", "--out", tmp_path / "x.json"]) == 1
    assert "HTTP 404" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_cli_runs_as_a_script(fake, tmp_path):
    # As a Snakemake job runs it: a separate process, with the checkout on PYTHONPATH.
    env = dict(os.environ, PYTHONPATH=str(REPO))
    listing = tmp_path / "listing.json"
    command = [
        sys.executable,
        str(REPO / "scripts" / "list_figshare.py"),
        "--api-url",
        fake.api,
        "--article-id",
        str(ARTICLE),
        "--out",
        str(listing),
    ]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "123 files listed" in proc.stderr
    assert len(json.loads(listing.read_text())) == 3 + N_FILLERS
