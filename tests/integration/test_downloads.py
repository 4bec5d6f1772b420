"""Whole-file downloads with real clients (curl, wget, aria2c), byte-exact."""

import os
import re
import subprocess

import pytest

from harness import HELLO, build_request, file_sha256, read_response, Reader, sha256, write_random

# Sizes around the 512-byte O_DIRECT alignment and the 4 KiB page, plus
# something that spans several 256 KiB blocks and a 64 MiB + 1 file.
SIZES = [0, 1, 511, 512, 4095, 4096, 4097, (1 << 20) + 13, (64 << 20) + 1]
BIG = (64 << 20) + 1
SPARSE_SIZE = 5 << 30
# (offset, bytes) written into the sparse file; one pair straddles 4 GiB.
MARKERS = [
    ((4 << 30) - 5, b"ACROSS-4GiB"),
    (SPARSE_SIZE - 8192 + 100, b"MARKER-ONE"),
    (SPARSE_SIZE - 4096 - 3, b"MARKER-TWO-straddles-a-page"),
    (SPARSE_SIZE - 7, b"THE-END"),
]


@pytest.fixture(scope="module")
def server(module_launch, tmp_path_factory):
    base = tmp_path_factory.mktemp("downloads")
    root = base / "root"
    root.mkdir()
    digests = {}
    for size in SIZES:
        data = write_random(root / f"f{size}.bin", size)
        digests[size] = sha256(data)
    (root / "hello.txt").write_bytes(HELLO)
    (root / "page.html").write_bytes(b"<!doctype html><p>hi</p>\n")
    sparse = root / "sparse.img"
    with open(sparse, "wb") as f:
        f.truncate(SPARSE_SIZE)
        for offset, data in MARKERS:
            f.seek(offset)
            f.write(data)
    ferry = module_launch(root=root)
    ferry.digests = digests
    ferry.outdir = base / "out"
    ferry.outdir.mkdir()
    return ferry


def expected_sparse(start: int, end: int) -> bytes:
    """The sparse file's bytes [start, end]."""
    buf = bytearray(end - start + 1)
    for offset, data in MARKERS:
        for i, byte in enumerate(data):
            if start <= offset + i <= end:
                buf[offset + i - start] = byte
    return bytes(buf)


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "--http1.1", *args], capture_output=True,
                          timeout=timeout, check=False)


@pytest.mark.parametrize("size", SIZES)
def test_curl_download_is_byte_exact(server, size):
    """curl fetches a random file of `size` bytes; sha256, status and size match."""
    out = server.outdir / f"curl-{size}"
    res = curl("-o", str(out), "-w", "%{http_code} %{size_download}",
               server.url(f"/f{size}.bin"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode() == f"200 {size}"
    assert file_sha256(out) == server.digests[size]
    out.unlink()


def test_content_length_and_headers_on_get(server):
    """A raw GET carries Server: ferry, Content-Length, Accept-Ranges."""
    with server.connect() as sock:
        sock.sendall(build_request("/f4097.bin"))
        resp = read_response(Reader(sock))
    assert resp.status == 200
    assert resp.header("server") == "ferry"
    assert resp.header("content-length") == "4097"
    assert resp.count("content-length") == 1
    assert sha256(resp.body) == server.digests[4097]


def test_content_type_from_mime_types(server):
    """.txt and .html get their MIME types (from /etc/mime.types or the fallback)."""
    txt = server.get("/hello.txt")
    html = server.get("/page.html")
    assert txt.status == 200 and txt.body == HELLO
    assert (txt.header("content-type") or "").startswith("text/plain")
    assert (html.header("content-type") or "").startswith("text/html")


def test_wget_download_is_byte_exact(server):
    """wget fetches the 64 MiB + 1 file byte-exact."""
    out = server.outdir / "wget.bin"
    res = subprocess.run(["wget", "-q", "-O", str(out), server.url(f"/f{BIG}.bin")],
                         capture_output=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert os.path.getsize(out) == BIG
    assert file_sha256(out) == server.digests[BIG]
    out.unlink()


def test_aria2c_split_download_is_byte_exact(server):
    """aria2c -x 4 -s 4 fetches the 64 MiB + 1 file in 4 ranged pieces, byte-exact."""
    out = server.outdir / "aria.bin"
    res = subprocess.run(
        ["aria2c", "-x", "4", "-s", "4", "-k", "1M", "--file-allocation=none",
         "--allow-overwrite=true", "--auto-file-renaming=false",
         "--console-log-level=warn", "--summary-interval=0", "--max-tries=1",
         "-d", str(server.outdir), "-o", "aria.bin", server.url(f"/f{BIG}.bin")],
        capture_output=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert os.path.getsize(out) == BIG
    assert file_sha256(out) == server.digests[BIG]
    out.unlink()


def test_sparse_5gib_range_near_end(server):
    """Ranges near the end of a sparse 5 GiB file return the marker bytes exactly."""
    start, end = SPARSE_SIZE - 8192, SPARSE_SIZE - 1
    resp = server.get("/sparse.img", {"Range": f"bytes={start}-{end}"})
    assert resp.status == 206
    assert resp.header("content-range") == f"bytes {start}-{end}/{SPARSE_SIZE}"
    assert resp.header("content-length") == str(end - start + 1)
    assert resp.body == expected_sparse(start, end)
    assert resp.body.endswith(b"THE-END")


def test_sparse_range_across_4gib(server):
    """A range straddling the 4 GiB offset is not truncated to 32 bits."""
    start, end = (4 << 30) - 100, (4 << 30) + 100
    resp = server.get("/sparse.img", {"Range": f"bytes={start}-{end}"})
    assert resp.status == 206
    assert resp.header("content-range") == f"bytes {start}-{end}/{SPARSE_SIZE}"
    assert resp.body == expected_sparse(start, end)
    assert b"ACROSS-4GiB" in resp.body


def test_sparse_suffix_range(server):
    """A suffix range (bytes=-N) on a file over 4 GiB."""
    resp = server.get("/sparse.img", {"Range": "bytes=-5000"})
    assert resp.status == 206
    assert resp.header("content-range") == (
        f"bytes {SPARSE_SIZE - 5000}-{SPARSE_SIZE - 1}/{SPARSE_SIZE}")
    assert resp.body == expected_sparse(SPARSE_SIZE - 5000, SPARSE_SIZE - 1)


def test_head_sparse_reports_full_length(server):
    """HEAD on the 5 GiB file: Content-Length 5368709120, no body."""
    with server.connect() as sock:
        sock.sendall(build_request("/sparse.img", "HEAD") +
                     build_request("/hello.txt", close=True))
        reader = Reader(sock)
        head = read_response(reader, "HEAD")
        # If HEAD had leaked a body, the next response would not parse.
        follow = read_response(reader)
    assert head.status == 200
    assert head.header("content-length") == str(SPARSE_SIZE)
    assert follow.status == 200 and follow.body == HELLO


@pytest.mark.parametrize("size", [0, 4097, BIG])
def test_head_has_length_and_no_body(server, size):
    """HEAD: the right Content-Length, identical headers to GET, and no body bytes."""
    with server.connect() as sock:
        sock.sendall(build_request(f"/f{size}.bin", "HEAD", close=True))
        reader = Reader(sock)
        resp = read_response(reader, "HEAD")
        rest = reader.read_to_eof()
    assert resp.status == 200
    assert resp.header("content-length") == str(size)
    assert rest == b"", f"HEAD response carried {len(rest)} body bytes"
    get = server.get(f"/f{size}.bin") if size < BIG else None
    if get is not None:
        for name in ("etag", "last-modified", "content-type", "content-length"):
            assert resp.header(name) == get.header(name), name


def test_curl_head(server):
    """curl -I agrees: 200 and Content-Length of the 1 MiB + 13 file."""
    res = curl("-I", server.url(f"/f{(1 << 20) + 13}.bin"))
    assert res.returncode == 0, res.stderr
    text = res.stdout.decode("latin-1")
    assert re.match(r"HTTP/1\.1 200", text)
    assert re.search(rf"(?im)^content-length: {(1 << 20) + 13}\r?$", text)
