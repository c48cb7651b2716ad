"""fetch: resumable download over a loopback HTTP server, checksum before rename."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dice.data.download import checksum_mismatch, fetch, verify_checksum
from dice.errors import DiceError

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Server:
    """A loopback server for PAYLOAD that logs Range headers and can misbehave on request."""

    def __init__(self) -> None:
        self.ranges: list[str | None] = []
        self.sent = 0
        self.ignore_range = False
        self.cut_after: int | None = None  # announce the full length, then close early
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                owner.ranges.append(self.headers.get("Range"))
                if owner.status != 200:
                    self.send_error(owner.status)
                    return
                start = 0
                if self.headers.get("Range") and not owner.ignore_range:
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
                    )
                else:
                    self.send_response(200)
                body = PAYLOAD[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                body = body if owner.cut_after is None else body[: owner.cut_after]
                owner.sent += len(body)  # before writing: the client may finish first
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file.bin"
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_fresh_download_verifies_and_renames(server, tmp_path):
    dest = tmp_path / "sub" / "file.bin"
    assert fetch(server.url, dest, sha256=SHA256, md5=MD5) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "sub" / "file.bin.part").exists()
    assert server.ranges == [None]


def test_resume_requests_only_the_missing_bytes(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD[:1000])
    fetch(server.url, dest, sha256=SHA256)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=1000-"]
    assert server.sent == len(PAYLOAD) - 1000


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.ignore_range = True
    (tmp_path / "file.bin.part").write_bytes(b"garbage!" * 10)
    fetch(server.url, tmp_path / "file.bin", md5=MD5)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD


def test_interrupted_download_keeps_part_then_resumes(server, tmp_path):
    dest = tmp_path / "file.bin"
    server.cut_after = 4000
    with pytest.raises(DiceError) as err:
        fetch(server.url, dest, sha256=SHA256)
    total = len(PAYLOAD)
    assert str(err.value) == (
        f"{dest}: download of {server.url} incomplete (4000 of {total} bytes); 4000 bytes "
        f"received, 4000 kept in file.bin.part; run again to resume from them, or place "
        f"file.bin (sha256 {SHA256}) at this exact path yourself"
    )
    assert not dest.exists()
    assert (tmp_path / "file.bin.part").read_bytes() == PAYLOAD[:4000]
    server.cut_after = None
    fetch(server.url, dest, sha256=SHA256)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges[-1] == "bytes=4000-"


def test_checksum_mismatch_names_file_and_digests_and_keeps_nothing(server, tmp_path):
    dest = tmp_path / "file.bin"
    wrong = "0" * 64
    with pytest.raises(DiceError) as err:
        fetch(server.url, dest, sha256=wrong)
    message = str(err.value)
    assert str(dest) in message and wrong in message and SHA256 in message
    assert "\n" not in message
    assert not dest.exists() and not (tmp_path / "file.bin.part").exists()


def test_existing_dest_with_right_checksum_needs_no_network(tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(PAYLOAD)
    # port 9 on loopback ("discard") is closed: any request would fail
    assert fetch("http://127.0.0.1:9/file.bin", dest, sha256=SHA256) == dest


def test_existing_dest_with_wrong_checksum_is_reported_not_replaced(tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"user placed this")
    with pytest.raises(DiceError, match="delete the file"):
        fetch("http://127.0.0.1:9/file.bin", dest, md5=MD5)
    assert dest.read_bytes() == b"user placed this"


def test_http_error_and_refused_connection_are_one_line_errors(server, tmp_path):
    server.status = 404
    with pytest.raises(DiceError, match="HTTP 404"):
        fetch(server.url, tmp_path / "a.bin")
    with pytest.raises(DiceError, match="no connection .*; no byte was received; run again when "
                       "online, or place b.bin at this exact path yourself$"):  # fmt: skip
        fetch("http://127.0.0.1:9/file.bin", tmp_path / "b.bin", timeout=5)
    assert not (tmp_path / "b.bin.part").exists()  # an empty part file is not left behind


def test_verify_checksum(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    verify_checksum(path, sha256=SHA256, md5=MD5.upper())
    assert checksum_mismatch(path) is None
    with pytest.raises(DiceError, match=f"expected md5 {'f' * 32}, got {MD5}"):
        verify_checksum(path, md5="f" * 32)
