"""Resumable, checksum-verified HTTP downloads (standard library only).

`fetch` writes into ``<dest>.part``, continues an existing ``.part`` with an HTTP ``Range``
request, verifies the checksum and only then renames the file onto `dest`. A reader therefore
never sees a half-written or wrong `dest`; an interrupted download resumes where it stopped.
The GroupLens URLs and checksums used by the suite live in ``dice/data/catalogue.yaml``.
When a download is impossible, every error says where to place the file by hand instead.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from dice.errors import DiceError
from dice.io import readable_file

CHUNK_BYTES = 1 << 20


def file_digest(path: str | Path, algorithm: str) -> str:
    """The hex digest of the file at `path` under `algorithm` (``"sha256"``, ``"md5"``)."""
    digest = hashlib.new(algorithm)
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_mismatch(
    path: str | Path, *, sha256: str | None = None, md5: str | None = None
) -> str | None:
    """Describe how `path` differs from the expected digests, or ``None`` when it matches.

    A digest that is not given is not checked; with neither given every file matches.
    """
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is None:
            continue
        actual = file_digest(path, algorithm)
        if actual != expected.strip().lower():
            return f"checksum mismatch: expected {algorithm} {expected}, got {actual}"
    return None


def verify_checksum(path: str | Path, *, sha256: str | None = None, md5: str | None = None) -> None:
    """Raise `DiceError` naming `path`, the expected and the actual digest when they differ."""
    problem = checksum_mismatch(path, sha256=sha256, md5=md5)
    if problem is not None:
        raise DiceError(problem, path=path)


def fetch(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 60,
) -> Path:
    """Download `url` to `dest`, resuming a partial download and verifying its checksum.

    Args:
        url: an ``http://`` or ``https://`` address.
        dest: the final file; an existing one with the right checksum is reused without any
            network access, one with a wrong checksum is left alone and reported.
        sha256: expected SHA-256 hex digest, if known.
        md5: expected MD5 hex digest (GroupLens publishes ``.md5`` files), if known.
        timeout: seconds to wait for the server on each network operation.

    Returns:
        `dest`, complete and verified.

    Raises:
        DiceError: on a network failure (the ``.part`` file is kept for resuming) or a checksum
            mismatch (the ``.part`` file is deleted, nothing is written at `dest`).
    """
    dest = Path(dest)
    if os.path.lexists(dest):  # a placed or earlier download; a dangling link is an error too
        readable_file(dest, what=f"the file downloaded from {url} or placed there by hand")
        problem = checksum_mismatch(dest, sha256=sha256, md5=md5)
        if problem is not None:
            raise DiceError(f"{problem}; delete the file to download it again", path=dest)
        return dest
    place = _place_hint(dest, sha256=sha256, md5=md5)
    if not url.startswith(("http://", "https://")):
        raise DiceError(f"cannot download {url!r}: only http(s) URLs are supported; {place}",
                        path=dest)  # fmt: skip
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DiceError(f"cannot create its folder ({err.strerror})", path=dest) from None
    if os.path.lexists(part):
        readable_file(part, what=f"a partial download of {url}")
    _download(url, part, timeout=timeout, place=place, dest=dest)
    problem = checksum_mismatch(part, sha256=sha256, md5=md5)
    if problem is not None:
        part.unlink()
        raise DiceError(f"downloaded from {url}: {problem}; nothing was kept", path=dest)
    os.replace(part, dest)
    return dest


def _place_hint(dest: Path, *, sha256: str | None, md5: str | None) -> str:
    """What the user can do instead of downloading: place the file at `dest` themselves."""
    sums = [f"{name} {value}" for name, value in (("md5", md5), ("sha256", sha256)) if value]
    checksum = f" ({', '.join(sums)})" if sums else ""
    return f"place {dest.name}{checksum} at this exact path yourself"


def _download(url: str, part: Path, *, timeout: float, place: str, dest: Path) -> None:
    """Append the rest of `url` to `part` (all of it when `part` is absent or empty).

    Failures are one-line errors naming `dest`: what happened (no connection, HTTP status,
    how many bytes arrived and are kept in `part`) and what to do (run again, or `place`).
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    request = urllib.request.Request(url, headers=headers)
    response = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            offset = _resume_offset(response, offset, part)
            total = _total_length(response, offset)
            with part.open("ab" if offset else "wb") as out:
                shutil.copyfileobj(response, out, CHUNK_BYTES)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # range starts at the end: the part is already complete
            return
        raise DiceError(
            f"download of {url} failed: HTTP {err.code} {err.reason}; run again later, or {place}",
            path=dest,
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, "reason", None) or err
        what = "no connection" if response is None else "interrupted"
        raise DiceError(
            f"download of {url} failed, {what} ({type(err).__name__}: {reason}); "
            f"{_kept(part, offset)}, or {place}",
            path=dest,
        ) from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise DiceError(
            f"download of {url} incomplete ({size} of {total} bytes); {_kept(part, offset)}, "
            f"or {place}",
            path=dest,
        )


def _kept(part: Path, offset: int) -> str:
    """How many bytes `part` holds now (started at `offset`) and how to continue."""
    size = part.stat().st_size if part.exists() else 0
    if size == 0:
        part.unlink(missing_ok=True)
        return "no byte was received; run again when online"
    received = f"{size - offset} bytes received" if size > offset else "no new byte received"
    return f"{received}, {size} kept in {part.name}; run again to resume from them"


def _resume_offset(response: http.client.HTTPResponse, offset: int, part: Path) -> int:
    """The byte offset the response body starts at: `offset` on a 206, else 0 (start over)."""
    if not offset or response.status != 206:
        return 0
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    if match is None or int(match.group(1)) != offset:
        raise DiceError("server answered a resume request with the wrong range", path=part)
    return offset


def _total_length(response: http.client.HTTPResponse, offset: int) -> int | None:
    """The full file size announced by the server, when it announces one."""
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None and length.isdigit() else None
