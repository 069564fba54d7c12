"""Download and unpack one subject of the Chen et al. 2018 zebrafish dataset from figshare.

Stdlib only, so the download rule runs before anything else is installed. Downloads stream into
`<dest>.part`, resume with HTTP Range requests after a broken connection, and are renamed onto
`dest` only once size and MD5 match the listing: a file under its final name is always verified.
"""

import gzip
import hashlib
import http.client
import json
import logging
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from sbm.io.errors import DownloadError, InputError

log = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_PAGES = 1000  # a server that ignores `page` would otherwise be paged forever


def _retryable_status(code: int) -> bool:
    # 408/429/5xx are the server saying "not now"; other 4xx will not change on a retry.
    return code in (408, 429) or 500 <= code < 600


def _sleep_before(attempt: int, backoff_s: float) -> None:
    """Exponential backoff before attempt number `attempt` (0 = first, no wait)."""
    if attempt:
        time.sleep(backoff_s * 2 ** (attempt - 1))


def _get_bytes(url: str, retries: int, backoff_s: float, timeout_s: float) -> bytes:
    problem = ""
    for attempt in range(retries + 1):
        _sleep_before(attempt, backoff_s)
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                return resp.read()  # raises IncompleteRead if the body is cut short
        except urllib.error.HTTPError as e:
            e.close()
            if not _retryable_status(e.code):
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
            problem = f"HTTP {e.code} {e.reason}"
        except (OSError, http.client.HTTPException) as e:  # connection refused/reset, timeout
            problem = f"{type(e).__name__}: {e}"
        log.warning("GET %s failed (%s), attempt %d of %d", url, problem, attempt + 1, retries + 1)
    raise DownloadError(f"{url}: failed after {retries + 1} attempts; last problem: {problem}")


def list_article_files(
    api_url: str, article_id: int, retries: int = 5, backoff_s: float = 1.0, timeout_s: float = 60
) -> list[dict]:
    """All files of a figshare article: dicts with name, size, download_url, md5 (and id)."""
    files: list[dict] = []
    for page in range(1, MAX_PAGES + 1):
        url = f"{api_url.rstrip('/')}/articles/{article_id}/files?page={page}&page_size={PAGE_SIZE}"
        body = _get_bytes(url, retries, backoff_s, timeout_s)
        try:
            entries = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(url, f"answer is not JSON ({e})") from e
        if not isinstance(entries, list):
            raise InputError(url, f"expected a JSON list of files, got {type(entries).__name__}")
        for entry in entries:
            try:
                name, size, download_url = entry["name"], int(entry["size"]), entry["download_url"]
            except (KeyError, TypeError, ValueError) as e:
                raise InputError(url, f"file entry lacks name/size/download_url: {entry!r}") from e
            md5 = entry.get("computed_md5") or entry.get("supplied_md5")
            if not md5:
                raise InputError(url, f"file {name!r} has neither computed_md5 nor supplied_md5")
            files.append(
                {"id": entry.get("id"), "name": name, "size": size, "download_url": download_url, "md5": md5.lower()}
            )
        if len(entries) < PAGE_SIZE:  # a short (or empty) page is the last one
            return files
    raise DownloadError(f"{api_url}: article {article_id} still has files after {MAX_PAGES} pages")


def assign_subjects(
    files: list[dict], subjects: list[str], pattern: str, source: str = "figshare listing"
) -> dict[str, dict]:
    """Map each subject (`subject_<n>`) to the one listed file whose name matches `pattern`
    with `{n}` replaced by n. `source` names the listing in error messages."""
    assigned = {}
    for subject in subjects:
        m = re.fullmatch(r"subject_(\d+)", subject)
        if not m:
            raise InputError(source, f"subject name {subject!r} is not of the form subject_<n>")
        # str.replace, not str.format: the regex has braces of its own ({2}, \d{3}).
        try:
            regex = re.compile(pattern.replace("{n}", str(int(m.group(1)))))
        except re.error as e:
            raise InputError(source, f"bad file pattern {pattern!r}: {e}") from e
        hits = [f for f in files if regex.search(f["name"])]
        if len(hits) != 1:
            found = ", ".join(f["name"] for f in hits) or "none"
            raise InputError(
                source, f"{subject}: expected exactly one file matching {regex.pattern!r}, found {len(hits)}: {found}"
            )
        assigned[subject] = hits[0]
    return assigned


def _md5_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def _transfer(url: str, part: Path, size: int | None, timeout_s: float, chunk_bytes: int) -> None:
    """One attempt: append the rest of `url` to `part`. Raises if the transfer ends early."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have >= size:
        if have == size:
            return  # complete from an earlier attempt; the caller verifies it
        part.unlink()  # longer than the file can be: not a prefix of it
        have = 0
    request = urllib.request.Request(url)
    if have:
        request.add_header("Range", f"bytes={have}-")
    start = last_log = time.monotonic()
    got = 0
    with urllib.request.urlopen(request, timeout=timeout_s) as resp:
        if have and resp.status == 206:
            content_range = resp.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {have}-"):
                part.unlink()  # the server sent some other range; start clean next time
                raise ConnectionError(f"unexpected Content-Range {content_range!r}")
            mode = "ab"
        else:
            if have:
                log.info("%s: server ignored the Range header, restarting from zero", url)
            have, mode = 0, "wb"
        length = resp.headers.get("Content-Length")
        expected = int(length) if length is not None else (None if size is None else size - have)
        log.info("%s: fetching %s bytes from offset %d", url, expected, have)
        with open(part, mode) as out:
            while chunk := resp.read(chunk_bytes):
                out.write(chunk)
                got += len(chunk)
                if time.monotonic() - last_log > 30:  # a heartbeat for multi-GB archives
                    last_log = time.monotonic()
                    log.info("%s: %d bytes so far", url, have + got)
    elapsed = max(time.monotonic() - start, 1e-6)
    log.info("%s: received %d bytes in %.1f s (%.2f MB/s)", url, got, elapsed, got / elapsed / 1e6)
    # http.client may return b"" instead of raising when the peer closes early: check the count.
    if expected is not None and got < expected:
        raise ConnectionError(f"transfer ended early: {got} of {expected} bytes")


def download_file(
    url: str,
    dest: Path,
    checksum: str,
    size: int | None,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60,
    chunk_bytes: int = 1 << 20,
    digest: Callable[[Path, int], str] | None = None,
    digest_name: str = "MD5",
) -> Path:
    """Download `url` to `dest`, resuming broken transfers; `dest` appears only once its size
    and checksum match. `digest(path, chunk_bytes)` computes the checksum (default MD5, what
    figshare lists; GitHub lists git blob SHA-1s)."""
    digest = digest or _md5_of
    dest, checksum = Path(dest), checksum.lower()
    if dest.exists():
        if digest(dest, chunk_bytes) == checksum:
            log.info("%s: already downloaded and verified", dest)
            return dest
        log.warning("%s: existing file has the wrong %s, downloading again", dest, digest_name)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    problem = ""
    for attempt in range(retries + 1):
        _sleep_before(attempt, backoff_s)
        log.info("%s: attempt %d of %d", url, attempt + 1, retries + 1)
        try:
            _transfer(url, part, size, timeout_s, chunk_bytes)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 416:  # our .part is not a prefix the server can continue from
                part.unlink(missing_ok=True)
            elif not _retryable_status(e.code):
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
            problem = f"HTTP {e.code} {e.reason}"
            log.warning("%s: %s", url, problem)
            continue
        except (OSError, http.client.HTTPException) as e:  # reset, timeout, IncompleteRead
            problem = f"{type(e).__name__}: {e}"
            log.warning(
                "%s: %s (kept %d bytes to resume from)", url, problem, part.stat().st_size if part.exists() else 0
            )
            continue
        got_size = part.stat().st_size
        got = digest(part, chunk_bytes) if size is None or got_size == size else None
        if got != checksum:
            # Start from scratch: resuming a corrupt prefix would only reproduce the mismatch.
            part.unlink()
            problem = (
                f"size {got_size} != expected {size}"
                if got is None
                else f"{digest_name} mismatch: expected {checksum}, got {got}"
            )
            log.warning("%s: %s, discarding the download", url, problem)
            continue
        os.replace(part, dest)
        log.info("%s: verified (%d bytes, %s %s)", dest, got_size, digest_name, checksum)
        return dest
    raise DownloadError(f"{url}: download failed after {retries + 1} attempts; last problem: {problem}")


def _open_archive(archive: Path) -> zipfile.ZipFile | tarfile.TarFile:
    if zipfile.is_zipfile(archive):
        return zipfile.ZipFile(archive)
    if tarfile.is_tarfile(archive):
        return tarfile.open(archive, "r:*")  # plain, gzip, bz2 or xz
    raise InputError(archive, "not a zip or tar archive (or truncated)")


def _check_safe(archive: Path, member_path: str) -> None:
    parts = PurePosixPath(member_path.replace("\\", "/")).parts
    if member_path.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise InputError(archive, f"member {member_path!r} has an unsafe path")


def unpack_subject(
    archive: Path, out_dir: Path, required: tuple[str, ...] = ("TimeSeries.h5", "data_full.mat")
) -> list[Path]:
    """Extract the `required` files (found by basename, at any depth) into `out_dir`.

    All are extracted to temporary names first and renamed only when every one succeeded,
    so a failed or interrupted unpack never leaves a subject that looks complete."""
    archive, out_dir = Path(archive), Path(out_dir)
    temps = {name: out_dir / f".{name}.unpack-{os.getpid()}" for name in required}
    try:
        with _open_archive(archive) as arc:
            if isinstance(arc, zipfile.ZipFile):
                members = {i.filename: i for i in arc.infolist() if not i.is_dir()}
            else:  # only regular files: tar links could point anywhere on disk
                members = {m.name: m for m in arc.getmembers() if m.isfile()}
            chosen = {}
            for name in required:
                hits = [p for p in members if PurePosixPath(p).name == name]
                if len(hits) != 1:
                    raise InputError(
                        archive,
                        f"expected exactly one member named {name}, found {len(hits)}: {', '.join(hits) or 'none'}",
                    )
                _check_safe(archive, hits[0])
                chosen[name] = members[hits[0]]
            out_dir.mkdir(parents=True, exist_ok=True)
            # Written to out_dir/<basename>, never to the member's own path: no traversal.
            is_zip = isinstance(arc, zipfile.ZipFile)
            for name, member in chosen.items():
                src = arc.open(member) if is_zip else arc.extractfile(member)
                with src, open(temps[name], "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
        written = []
        for name, tmp in temps.items():
            os.replace(tmp, out_dir / name)
            written.append(out_dir / name)
        return written
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        # What damaged archive bytes raise (bad CRC, truncated gzip stream, bad tar header).
        raise InputError(archive, f"corrupt archive ({type(e).__name__}: {e})") from e
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def fetch_subject(
    listing: list[dict],
    subject: str,
    pattern: str,
    raw_dir: Path,
    download_dir: Path,
    retries: int = 5,
    backoff_s: float = 1.0,
    source: str = "figshare listing",
) -> list[Path]:
    """Download one subject's archive into `download_dir` (kept) and unpack it into
    `raw_dir/<subject>`. Returns the paths written: the archive, then the raw files."""
    entry = assign_subjects(listing, [subject], pattern, source)[subject]
    name = entry["name"]
    # The name comes from the server: refuse anything that is not a plain file name.
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise InputError(source, f"{subject}: file name {name!r} is not a plain file name")
    archive = download_file(
        entry["download_url"],
        Path(download_dir) / name,
        entry["md5"],
        entry.get("size"),
        retries=retries,
        backoff_s=backoff_s,
    )
    return [archive, *unpack_subject(archive, Path(raw_dir) / subject)]
