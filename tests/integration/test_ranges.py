"""Range requests: single, suffix, open-ended, multipart, 416, If-Range.

ferryd runs with --block-size 4K so that small ranges cross block (and
O_DIRECT alignment) boundaries cheaply, and --max-ranges 4.
"""

import re

import pytest

from harness import Reader, build_request, read_response, write_random

BLOCK = 4096
SIZE = 5 * BLOCK + 1234
MAX_RANGES = 4


@pytest.fixture(scope="module")
def server(module_launch, tmp_path_factory):
    root = tmp_path_factory.mktemp("ranges") / "root"
    root.mkdir()
    data = write_random(root / "data.bin", SIZE, seed=1)
    write_random(root / "tiny.bin", 10, seed=2)
    (root / "empty.bin").write_bytes(b"")
    ferry = module_launch(root=root, args=["--block-size", "4K",
                                           "--max-ranges", str(MAX_RANGES)])
    ferry.data = data
    ferry.etag = ferry.get("/data.bin").header("etag")
    assert ferry.etag, "no ETag on a plain GET"
    return ferry


def check_single(resp, data, first, last):
    size = len(data)
    assert resp.status == 206, (resp.status, resp.raw_head)
    assert resp.header("content-range") == f"bytes {first}-{last}/{size}"
    assert resp.header("content-length") == str(last - first + 1)
    assert resp.body == data[first:last + 1]


@pytest.mark.parametrize("spec,first,last", [
    ("bytes=0-0", 0, 0),
    ("bytes=1-1", 1, 1),
    ("bytes=100-199", 100, 199),
    ("bytes=511-512", 511, 512),
    ("bytes=4095-4096", 4095, 4096),            # crosses a block boundary
    ("bytes=4096-8191", 4096, 8191),            # exactly one aligned block
    ("bytes=4000-12500", 4000, 12500),          # spans three blocks
    ("bytes=1-20479", 1, 20479),                # nearly everything, unaligned
    ("bytes=20479-20481", 20479, 20481),        # into the partial last block
    (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),  # the last byte
    (f"bytes=20480-{SIZE + 5000}", 20480, SIZE - 1),       # end past EOF clamps
])
def test_single_range(server, spec, first, last):
    """A single unaligned range gives 206, Content-Range and exactly those bytes."""
    check_single(server.get("/data.bin", {"Range": spec}), server.data, first, last)


@pytest.mark.parametrize("n", [1, 500, 1234, BLOCK + 1, SIZE])
def test_suffix_range(server, n):
    """bytes=-N returns the last N bytes (the file tail)."""
    check_single(server.get("/data.bin", {"Range": f"bytes=-{n}"}), server.data,
                 SIZE - n, SIZE - 1)


def test_suffix_longer_than_file(server):
    """bytes=-N with N > size returns the whole file as one range."""
    check_single(server.get("/data.bin", {"Range": f"bytes=-{SIZE * 3}"}),
                 server.data, 0, SIZE - 1)


@pytest.mark.parametrize("first", [0, 1, 4095, 4097, SIZE - 1234, SIZE - 1])
def test_open_ended_range(server, first):
    """bytes=N- returns from N to the end."""
    check_single(server.get("/data.bin", {"Range": f"bytes={first}-"}),
                 server.data, first, SIZE - 1)


def parse_multipart(resp):
    """Returns [(first, last, size, part_headers, bytes)] of a multipart/byteranges body."""
    ctype = resp.header("content-type") or ""
    m = re.match(r'multipart/byteranges;\s*boundary="?([^";]+)"?', ctype)
    assert m, f"not multipart/byteranges: {ctype!r}"
    boundary = m.group(1).encode()
    body = resp.body
    delim = b"--" + boundary
    parts = []
    pos = body.find(delim)
    assert pos >= 0, "no boundary in body"
    assert body[:pos].strip(b"\r\n") == b"", "junk before the first boundary"
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            assert body[pos + 2:].strip(b"\r\n") == b"", "junk after the closing boundary"
            break
        assert body[pos:pos + 2] == b"\r\n", "boundary line not followed by CRLF"
        head_end = body.index(b"\r\n\r\n", pos + 2)
        headers = {}
        for line in body[pos + 2:head_end].split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        cr = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("content-range", ""))
        assert cr, f"part without a valid Content-Range: {headers}"
        first, last, size = map(int, cr.groups())
        start = head_end + 4
        end = start + (last - first + 1)
        assert body[end:end + 2 + len(delim)] == b"\r\n" + delim, (
            "part length disagrees with its Content-Range")
        parts.append((first, last, size, headers, body[start:end]))
        pos = end + 2
    return parts


def check_multipart(resp, data, requested):
    """Every part byte-exact, parts disjoint, all requested bytes covered."""
    assert resp.status == 206
    assert resp.header("content-range") is None, "Content-Range on a multipart response"
    assert resp.header("content-length") == str(len(resp.body))
    parts = parse_multipart(resp)
    covered = set()
    spans = []
    for first, last, size, headers, payload in parts:
        assert size == len(data)
        assert 0 <= first <= last < size
        assert payload == data[first:last + 1], f"part {first}-{last} bytes differ"
        assert "content-type" in headers
        spans.append((first, last))
    spans.sort()
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert a1 < b0, f"overlapping parts {a0}-{a1} and {b0}-{b1} (not coalesced)"
    for first, last in spans:
        covered.update(range(first, last + 1))
    for first, last in requested:
        missing = set(range(first, last + 1)) - covered
        assert not missing, f"requested {first}-{last} not covered"
    return parts


def test_multipart_byteranges(server):
    """Three disjoint ranges: multipart/byteranges with three byte-exact parts in order."""
    requested = [(0, 9), (4090, 4100), (SIZE - 10, SIZE - 1)]
    spec = "bytes=" + ",".join(f"{a}-{b}" for a, b in requested)
    resp = server.get("/data.bin", {"Range": spec})
    parts = check_multipart(resp, server.data, requested)
    assert [(p[0], p[1]) for p in parts] == requested


def test_multipart_with_suffix_and_open_ended(server):
    """Mixed forms in one request: N-M, -N and N-."""
    resp = server.get("/data.bin", {"Range": "bytes=5000-5001,-3,9000-"})
    # 9000- overlaps -3 (the tail): they coalesce into 9000-(SIZE-1).
    check_multipart(resp, server.data, [(5000, 5001), (9000, SIZE - 1)])


def test_overlapping_ranges_coalesced(server):
    """bytes=0-99,50-149: one range 0-149, no byte sent twice."""
    resp = server.get("/data.bin", {"Range": "bytes=0-99,50-149"})
    assert resp.status == 206
    if (resp.header("content-type") or "").startswith("multipart/byteranges"):
        parts = check_multipart(resp, server.data, [(0, 149)])
        assert [(p[0], p[1]) for p in parts] == [(0, 149)]
    else:
        check_single(resp, server.data, 0, 149)


def test_unsatisfiable_part_dropped(server):
    """A multi-range request with one unsatisfiable range serves the satisfiable one."""
    resp = server.get("/data.bin", {"Range": f"bytes=10-19,{SIZE + 10}-{SIZE + 20}"})
    assert resp.status == 206
    if (resp.header("content-type") or "").startswith("multipart/byteranges"):
        check_multipart(resp, server.data, [(10, 19)])
    else:
        check_single(resp, server.data, 10, 19)


@pytest.mark.parametrize("spec", [f"bytes={SIZE}-", f"bytes={SIZE + 100}-{SIZE + 200}",
                                  "bytes=-0", f"bytes={SIZE}-{SIZE},{SIZE + 9}-"])
def test_416_with_content_range(server, spec):
    """No satisfiable range: 416 with Content-Range: bytes */SIZE."""
    resp = server.get("/data.bin", {"Range": spec})
    assert resp.status == 416
    assert resp.header("content-range") == f"bytes */{SIZE}"


def test_416_keeps_connection_usable(server):
    """416 is not a framing error: the next pipelined request still gets an answer."""
    with server.connect() as sock:
        sock.sendall(build_request("/data.bin", headers={"Range": f"bytes={SIZE}-"}) +
                     build_request("/tiny.bin", close=True))
        reader = Reader(sock)
        assert read_response(reader).status == 416
        assert read_response(reader).status == 200


def test_unknown_range_unit_ignored(server):
    """Range: items=0-1 is ignored: 200 with the full body."""
    resp = server.get("/data.bin", {"Range": "items=0-1"})
    assert resp.status == 200
    assert resp.body == server.data


def test_if_range_matching_etag(server):
    """If-Range with the current ETag: the range is honoured (206)."""
    resp = server.get("/data.bin", {"Range": "bytes=10-20", "If-Range": server.etag})
    check_single(resp, server.data, 10, 20)


def test_if_range_stale_etag(server):
    """If-Range with another ETag: the full file (200)."""
    resp = server.get("/data.bin", {"Range": "bytes=10-20", "If-Range": '"0-0"'})
    assert resp.status == 200
    assert resp.body == server.data


def test_if_range_date(server):
    """If-Range with the exact Last-Modified: 206; with an older date: 200."""
    lm = server.get("/data.bin").header("last-modified")
    ok = server.get("/data.bin", {"Range": "bytes=0-3", "If-Range": lm})
    check_single(ok, server.data, 0, 3)
    old = server.get("/data.bin", {"Range": "bytes=0-3",
                                   "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert old.status == 200 and old.body == server.data


def test_exactly_max_ranges_is_honoured(server):
    """--max-ranges 4: four ranges still give 206 multipart."""
    requested = [(0, 0), (100, 100), (5000, 5100), (9000, 9001)]
    spec = "bytes=" + ",".join(f"{a}-{b}" for a, b in requested)
    check_multipart(server.get("/data.bin", {"Range": spec}), server.data, requested)


def test_more_than_max_ranges_gives_full_body(server):
    """--max-ranges 4: five ranges get 200 and the whole file."""
    spec = "bytes=0-0,100-100,5000-5100,9000-9001,12000-12001"
    resp = server.get("/data.bin", {"Range": spec})
    assert resp.status == 200
    assert resp.header("content-length") == str(SIZE)
    assert resp.body == server.data


def test_head_with_range(server):
    """HEAD with a Range: 206 headers and no body."""
    with server.connect() as sock:
        sock.sendall(build_request("/data.bin", "HEAD", {"Range": "bytes=4-8"}) +
                     build_request("/tiny.bin", close=True))
        reader = Reader(sock)
        head = read_response(reader, "HEAD")
        follow = read_response(reader)
    assert head.status == 206
    assert head.header("content-range") == f"bytes 4-8/{SIZE}"
    assert head.header("content-length") == "5"
    assert follow.status == 200 and len(follow.body) == 10


@pytest.mark.parametrize("spec", ["bytes=0-", "bytes=-5", "bytes=0-0"])
def test_empty_file_range_416(server, spec):
    """Any range of a zero-length file is unsatisfiable: 416, bytes */0."""
    resp = server.get("/empty.bin", {"Range": spec})
    assert resp.status == 416
    assert resp.header("content-range") == "bytes */0"


def test_huge_numbers_do_not_wrap(server):
    """Positions past 2**64 neither wrap nor crash: an end beyond 2**64 clamps
    to the file (or the header is ignored); a start beyond it is unsatisfiable
    (or ignored); a suffix beyond it is the whole file (or ignored)."""
    resp = server.get("/data.bin", {"Range": "bytes=0-18446744073709551616"})
    assert resp.status in (200, 206) and resp.body == server.data
    resp = server.get("/data.bin", {"Range": "bytes=18446744073709551615-"})
    assert resp.status in (200, 416)
    if resp.status == 200:
        assert resp.body == server.data
    resp = server.get("/data.bin", {"Range": "bytes=-18446744073709551617"})
    assert resp.status in (200, 206) and resp.body == server.data
    resp = server.get("/data.bin", {"Range": "bytes=18446744073709551617-18446744073709551618"})
    assert resp.status in (200, 416)


def test_header_names_case_insensitive(server):
    """'range:' and 'host:' in lower case, tab after the colon, trailing spaces."""
    resp = server.request(b"GET /data.bin HTTP/1.1\r\nhost:\tx\r\n"
                          b"rANGE: bytes=3-6   \r\nconnection: close\r\n\r\n")
    check_single(resp, server.data, 3, 6)


def test_long_list_of_one_range_is_that_range(server):
    """~15 KB of "0-," (5,000 specs, what a full header holds) coalesce to one
    range: served as 206 of the whole file, as before the list was bounded."""
    spec = ",".join(["0-"] * 5000)
    resp = server.get("/data.bin", {"Range": f"bytes={spec}"})
    check_single(resp, server.data, 0, SIZE - 1)


def test_long_list_of_disjoint_ranges_gives_full_body(server):
    """Thousands of disjoint one-byte ranges, far over --max-ranges: 200."""
    spec = ",".join(f"{2 * i}-{2 * i}" for i in range(1200))
    resp = server.get("/data.bin", {"Range": f"bytes={spec}"})
    assert resp.status == 200 and resp.body == server.data


def test_multipart_boundaries_are_unpredictable(server):
    """Boundaries of successive multipart responses on one connection share
    no arithmetic a client could extrapolate to place one in a file."""
    spec = {"Range": "bytes=0-0,100-100"}
    with server.connect() as sock:
        sock.sendall(b"".join(build_request("/data.bin", headers=spec)
                              for _ in range(3)))
        reader = Reader(sock)
        boundaries = []
        for _ in range(3):
            resp = read_response(reader)
            m = re.search(r"boundary=(\S+)", resp.header("content-type") or "")
            assert resp.status == 206 and m, resp.raw_head
            boundaries.append(m.group(1))
    values = [int(b, 16) for b in boundaries]
    steps = {b - a for a, b in zip(values, values[1:])}
    assert len(steps) == 2, f"boundaries {boundaries} advance by a constant"
    assert all(abs(s) >= 1 << 32 for s in steps), f"boundaries {boundaries} are near"
