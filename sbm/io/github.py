"""Download folders of a public GitHub repository through the contents API (stdlib only).

Used for the CASCADE spike-inference ground truth (one folder per dataset, one .mat file per
neuron). Every file is checked against the `sha` the contents API lists for it, which is the git
blob SHA-1 of its content, and a dataset folder is renamed into place only once every file in it
is verified: a dataset folder under its final name is always complete.

Retries, backoff and resumable transfers come from sbm.io.figshare; only the checksum differs.
"""

import hashlib
import json
import logging
import os
import time
import urllib.error
from pathlib import Path
from urllib.parse import quote

from sbm.io.errors import InputError
from sbm.io.figshare import DownloadError, _get_bytes, download_file

log = logging.getLogger(__name__)

# The contents API lists at most 1000 entries of a folder and silently leaves out the rest.
CONTENTS_API_MAX_ENTRIES = 1000
# A file stored with Git LFS is served as this small text pointer; its `sha` matches the pointer,
# so verification alone would not notice that the real content is missing.
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"


def git_blob_sha1(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """The git blob SHA-1 of a file: sha1(b"blob <size>\\0" + content), as `git hash-object`."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        h = hashlib.sha1(b"blob %d\0" % size)
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def contents_url(api_url: str, repo: str, ref: str, path: str) -> str:
    owner, _, name = repo.partition("/")
    if not owner or not name or "/" in name:
        raise InputError(repo, "repository must be given as owner/name")
    return f"{api_url.rstrip('/')}/repos/{repo}/contents/{quote(path.strip('/'))}?ref={quote(ref, safe='')}"


def _explain_http_error(err: DownloadError, url: str, repo: str, ref: str, path: str) -> Exception | None:
    """A clearer error for the HTTP failures GitHub answers with, or None to keep `err`.

    figshare._get_bytes raises DownloadError `from` the HTTPError for answers it does not retry,
    so the status and headers are on err.__cause__ (the body is already closed)."""
    cause = err.__cause__
    if not isinstance(cause, urllib.error.HTTPError):
        return None  # retries spent on 5xx or connection errors: the message says so already
    if cause.code == 404:
        return InputError(
            url,
            f"HTTP 404: folder {path!r} does not exist in {repo} at ref {ref!r} "
            "(or the repository or ref does not exist, or is private)",
        )
    if cause.code == 403:
        if cause.headers.get("X-RateLimit-Remaining") == "0":
            reset = cause.headers.get("X-RateLimit-Reset", "")
            when = (
                time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(reset)))
                if reset.isdigit()
                else "an unknown time"
            )
            return DownloadError(
                f"{url}: HTTP 403: GitHub API rate limit exceeded (60 requests "
                f"an hour without a token); it resets at {when}"
            )
        if cause.headers.get("Retry-After"):
            return DownloadError(
                f"{url}: HTTP 403: GitHub secondary rate limit; retry after {cause.headers['Retry-After']} s"
            )
        return DownloadError(f"{url}: HTTP 403 {cause.reason} (not a rate limit: no access?)")
    return None


def list_folder(
    api_url: str, repo: str, ref: str, path: str, retries: int = 5, backoff_s: float = 1.0, timeout_s: float = 60
) -> list[dict]:
    """The files (not sub-folders) of folder `path` in `repo` at `ref`: dicts with name, path,
    sha (git blob SHA-1), size and download_url."""
    url = contents_url(api_url, repo, ref, path)
    try:
        body = _get_bytes(url, retries, backoff_s, timeout_s)
    except DownloadError as err:
        clearer = _explain_http_error(err, url, repo, ref, path)
        if clearer is None:
            raise
        raise clearer from err
    try:
        entries = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(url, f"answer is not JSON ({e})") from e
    if isinstance(entries, dict) and entries.get("type") == "file":
        raise InputError(url, f"{path!r} is a file, not a folder")
    if not isinstance(entries, list):
        raise InputError(url, f"expected a JSON list of folder entries, got {type(entries).__name__}")
    if len(entries) >= CONTENTS_API_MAX_ENTRIES:
        raise InputError(
            url,
            f"folder has {len(entries)} entries, the most the contents API "
            "lists: some may be missing (the git trees API would list them all)",
        )
    files = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type") != "file":
            continue  # sub-folders, symlinks and submodules are not part of a dataset
        try:
            name, size, sha = entry["name"], int(entry["size"]), entry["sha"].lower()
            download_url = entry["download_url"]
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise InputError(url, f"file entry lacks name/size/sha/download_url: {entry!r}") from e
        if not download_url:
            raise InputError(url, f"file {name!r} has no download_url")
        files.append(
            {
                "name": name,
                "path": entry.get("path", f"{path}/{name}"),
                "sha": sha,
                "size": size,
                "download_url": download_url,
            }
        )
    return files


def _check_plain_name(name: str, what: str, source: str) -> None:
    # Names end up as paths under out_dir: refuse anything that could point elsewhere.
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise InputError(source, f"{what} {name!r} is not a plain file name")


def _download_blob(url: str, dest: Path, sha: str, size: int, retries: int, backoff_s: float, timeout_s: float) -> Path:
    """figshare.download_file (resume, retries, verification) with the git blob SHA-1 that
    GitHub lists as the checksum; then refuse a Git LFS pointer, whose SHA-1 would match too."""
    download_file(
        url,
        dest,
        sha,
        size,
        retries=retries,
        backoff_s=backoff_s,
        timeout_s=timeout_s,
        digest=git_blob_sha1,
        digest_name="git blob SHA-1",
    )
    with open(dest, "rb") as f:
        if f.read(len(LFS_POINTER_PREFIX)) == LFS_POINTER_PREFIX:
            dest.unlink()
            raise InputError(
                url, "is a Git LFS pointer, not the file itself (the contents API does not serve LFS content)"
            )
    return dest


def download_dataset(
    api_url: str,
    repo: str,
    ref: str,
    folder_path: str,
    dataset: str,
    out_dir: str | Path,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60,
) -> list[Path]:
    """Download every .mat file of `{folder_path}/{dataset}` into `out_dir/dataset`.

    Files are collected and verified in the hidden folder `out_dir/.{dataset}.download`, which
    is renamed to `out_dir/dataset` only when all are verified. An existing `out_dir/dataset` is
    therefore complete and is returned as it is, without any request. The hidden folder keeps
    verified files and partial transfers, so a rerun after a failure resumes where it stopped
    (two runs for the same dataset at once would share it: Snakemake never does that)."""
    out_dir = Path(out_dir)
    _check_plain_name(dataset, "dataset name", str(out_dir))
    final = out_dir / dataset
    if final.is_dir():
        log.info("%s: already downloaded and verified, not contacting %s", final, api_url)
        return sorted(final.glob("*.mat"))
    folder = f"{folder_path.strip('/')}/{dataset}" if folder_path.strip("/") else dataset
    url = contents_url(api_url, repo, ref, folder)
    files = list_folder(api_url, repo, ref, folder, retries=retries, backoff_s=backoff_s, timeout_s=timeout_s)
    mats = [f for f in files if f["name"].lower().endswith(".mat")]
    if not mats:
        found = ", ".join(f["name"] for f in files) or "no files"
        raise InputError(url, f"dataset {dataset!r} has no .mat files (found: {found})")
    for f in files:
        if f not in mats:
            log.info("%s: skipping %s (not a .mat file)", dataset, f["name"])
    for f in mats:
        _check_plain_name(f["name"], "file name", url)
    tmp = out_dir / f".{dataset}.download"
    tmp.mkdir(parents=True, exist_ok=True)
    for f in mats:
        _download_blob(f["download_url"], tmp / f["name"], f["sha"], f["size"], retries, backoff_s, timeout_s)
    # Leftovers of an earlier run against a different listing must not be published.
    expected = {f["name"] for f in mats}
    for stray in tmp.iterdir():
        if stray.name not in expected:
            log.warning("%s: removing %s (not in the current listing)", tmp, stray.name)
            stray.unlink()
    os.rename(tmp, final)
    log.info("%s: %d files verified", final, len(mats))
    return sorted(final / name for name in expected)
