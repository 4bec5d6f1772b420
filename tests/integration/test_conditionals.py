"""Validators and conditional requests: ETag, Last-Modified, Date, 304, 412."""

import email.utils
import os
import re
import time

import pytest

from harness import Reader, build_request, read_response

MTIME = 1_700_000_123          # whole seconds: Last-Modified is exact
BODY = b"conditional body\n" * 100
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT")


def http_date(t: float) -> str:
    return email.utils.formatdate(t, usegmt=True)


@pytest.fixture(scope="module")
def server(module_launch, tmp_path_factory):
    root = tmp_path_factory.mktemp("cond") / "root"
    root.mkdir()
    path = root / "doc.txt"
    path.write_bytes(BODY)
    os.utime(path, (MTIME, MTIME))
    # Validity 0: every request sees the file as it is on disk now (the
    # default lets a cached small file lag a change by up to a second).
    ferry = module_launch(root=root, args=["--file-cache-validity", "0"])
    ferry.etag = etag_of(path)
    return ferry


def etag_of(path) -> str:
    """The ETag ferryd gives a file: mtime seconds, its nanoseconds, size,
    inode, in hex."""
    st = os.stat(path)
    sec, nsec = divmod(st.st_mtime_ns, 10**9)
    return f'"{sec:x}.{nsec:x}-{st.st_size:x}-{st.st_ino:x}"'


def request_with_lines(path: str, lines: list[str]) -> bytes:
    """A GET whose fields are `lines` as given, repeated names and all."""
    head = [f"GET {path} HTTP/1.1", "Host: ferry.test", *lines,
            "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


def get(server, headers=None, method="GET"):
    return server.get("/doc.txt", headers, method)


def test_etag_format(server):
    """ETag is "<mtime s>.<mtime ns>-<size>-<inode>" (strong, lower-case hex)."""
    resp = get(server)
    assert resp.status == 200
    etag = resp.header("etag")
    assert etag is not None
    assert re.fullmatch(r'"[0-9a-f]+\.[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"', etag), etag
    assert etag == server.etag


def test_etag_tells_apart_versions_within_one_second(server):
    """Two versions of one size written within the same second have different
    ETags, and an If-Range resume with the first one's ETag gets the whole
    second version, never a splice of the two."""
    path = server.root / "same-second.txt"
    path.write_bytes(b"A" * 100)
    os.utime(path, ns=(MTIME * 10**9 + 100, MTIME * 10**9 + 100))
    first = server.get("/same-second.txt")
    assert first.status == 200 and first.body == b"A" * 100
    path.write_bytes(b"B" * 100)
    os.utime(path, ns=(MTIME * 10**9 + 200, MTIME * 10**9 + 200))
    second = server.get("/same-second.txt")
    assert second.body == b"B" * 100
    assert second.header("last-modified") == first.header("last-modified")
    assert second.header("etag") != first.header("etag"), second.header("etag")
    resumed = server.get("/same-second.txt", {"Range": "bytes=50-",
                                              "If-Range": first.header("etag")})
    assert resumed.status == 200 and resumed.body == b"B" * 100


def test_etag_tells_apart_a_replaced_file(server):
    """A file replaced (renamed over) by another of the same size and mtime
    has another ETag: the inode is part of it."""
    path = server.root / "replaced.txt"
    path.write_bytes(b"one")
    os.utime(path, (MTIME, MTIME))
    first = server.get("/replaced.txt").header("etag")
    keep = server.root / "replaced.keep"   # holds the inode, so no reuse
    os.link(path, keep)
    tmp = server.root / "replaced.tmp"
    tmp.write_bytes(b"two")
    os.utime(tmp, (MTIME, MTIME))
    os.rename(tmp, path)
    resp = server.get("/replaced.txt", {"If-None-Match": first})
    assert resp.status == 200 and resp.body == b"two"
    assert resp.header("etag") != first


def test_last_modified_never_later_than_date(server):
    """A file whose mtime is in the future: Last-Modified is Date instead
    (RFC 9110 8.8.2.1), on 200, 206 and 304 alike."""
    path = server.root / "future.txt"
    path.write_bytes(b"from the future\n")
    future = int(time.time()) + 86400 * 30
    os.utime(path, (future, future))
    for headers in [None, {"Range": "bytes=0-3"}, {"Range": "bytes=0-1,4-5"},
                    {"If-None-Match": etag_of(path)}]:
        resp = server.get("/future.txt", headers)
        assert resp.status in (200, 206, 304), resp.status
        lm = email.utils.parsedate_to_datetime(resp.header("last-modified"))
        date = email.utils.parsedate_to_datetime(resp.header("date"))
        assert lm <= date, (headers, resp.header("last-modified"),
                            resp.header("date"))


def test_if_none_match_on_two_lines_is_one_list(server):
    """RFC 9110 5.3: If-None-Match sent on two lines is one list; the current
    ETag on the second line gives 304."""
    raw = request_with_lines("/doc.txt", ['If-None-Match: "x"',
                                          f"If-None-Match: {server.etag}"])
    check_304(server.request(raw), server)


def test_if_match_on_two_lines_is_one_list(server):
    """If-Match sent on two lines is one list: the current ETag on the second
    line gives 200, not 412."""
    raw = request_with_lines("/doc.txt", ['If-Match: "x"',
                                          f"If-Match: {server.etag}"])
    resp = server.request(raw)
    assert resp.status == 200 and resp.body == BODY


def test_last_modified_and_date(server):
    """Last-Modified is the file's mtime, Date is now; both IMF-fixdate."""
    before = time.time()
    resp = get(server)
    after = time.time()
    lm, date = resp.header("last-modified"), resp.header("date")
    assert lm and IMF_FIXDATE.fullmatch(lm), lm
    assert date and IMF_FIXDATE.fullmatch(date), date
    assert lm == http_date(MTIME)
    when = email.utils.parsedate_to_datetime(date).timestamp()
    assert before - 2 <= when <= after + 2, f"Date {date} is not now"
    assert resp.count("date") == 1 and resp.count("etag") == 1


def check_304(resp, server):
    assert resp.status == 304, (resp.status, resp.raw_head)
    assert resp.header("etag") == server.etag
    assert resp.header("content-length") in (None, str(len(BODY)))


@pytest.mark.parametrize("value", [
    "ETAG", "W/ETAG", "*", '"nope", ETAG', '"a","b" , ETAG'])
def test_if_none_match_304(server, value):
    """If-None-Match that matches (weak comparison, lists, *) gives 304."""
    check_304(get(server, {"If-None-Match": value.replace("ETAG", server.etag)}), server)


def test_if_none_match_other_etag_200(server):
    """If-None-Match with a different tag gives 200 and the body."""
    resp = get(server, {"If-None-Match": '"123-456"'})
    assert resp.status == 200 and resp.body == BODY


@pytest.mark.parametrize("offset", [0, 1, 86400 * 365])
def test_if_modified_since_304(server, offset):
    """If-Modified-Since at or after the mtime gives 304."""
    check_304(get(server, {"If-Modified-Since": http_date(MTIME + offset)}), server)


@pytest.mark.parametrize("value", ["Friday, 15-Dec-23 10:00:00 GMT",   # rfc850
                                   "Fri Dec 15 10:00:00 2023"])         # asctime
def test_if_modified_since_obsolete_formats(server, value):
    """RFC 9110 5.6.7: the rfc850 and asctime date forms are understood (304)."""
    check_304(get(server, {"If-Modified-Since": value}), server)


@pytest.mark.parametrize("value", [http_date(MTIME - 1), http_date(0), "not a date"])
def test_if_modified_since_200(server, value):
    """If-Modified-Since before the mtime (or unparsable) gives 200."""
    resp = get(server, {"If-Modified-Since": value})
    assert resp.status == 200 and resp.body == BODY


def test_if_none_match_overrides_if_modified_since(server):
    """A non-matching If-None-Match wins over a satisfied If-Modified-Since."""
    resp = get(server, {"If-None-Match": '"1-1"',
                        "If-Modified-Since": http_date(MTIME + 10)})
    assert resp.status == 200 and resp.body == BODY


def test_head_304(server):
    """HEAD with a matching If-None-Match gives 304 too."""
    check_304(get(server, {"If-None-Match": server.etag}, "HEAD"), server)


def test_304_has_no_body(server):
    """A 304 carries no body: the next pipelined response parses cleanly."""
    with server.connect() as sock:
        sock.sendall(build_request("/doc.txt", headers={"If-None-Match": server.etag}) +
                     build_request("/doc.txt", close=True))
        reader = Reader(sock)
        assert read_response(reader).status == 304
        follow = read_response(reader)
        assert follow.status == 200 and follow.body == BODY
        assert reader.read_to_eof() == b""


@pytest.mark.parametrize("value", ['"1-1"', "W/ETAG", '"nope", "other"'])
def test_if_match_412(server, value):
    """If-Match that does not match strongly gives 412."""
    resp = get(server, {"If-Match": value.replace("ETAG", server.etag)})
    assert resp.status == 412


@pytest.mark.parametrize("value", ["ETAG", "*", '"x", ETAG'])
def test_if_match_200(server, value):
    """If-Match with the current ETag (or *) gives 200."""
    resp = get(server, {"If-Match": value.replace("ETAG", server.etag)})
    assert resp.status == 200 and resp.body == BODY


def test_if_unmodified_since_412(server):
    """If-Unmodified-Since before the mtime gives 412."""
    assert get(server, {"If-Unmodified-Since": http_date(MTIME - 1)}).status == 412


@pytest.mark.parametrize("offset", [0, 3600])
def test_if_unmodified_since_200(server, offset):
    """If-Unmodified-Since at or after the mtime gives 200."""
    resp = get(server, {"If-Unmodified-Since": http_date(MTIME + offset)})
    assert resp.status == 200 and resp.body == BODY


def test_validators_follow_a_change(server):
    """After the file changes, the old ETag no longer gives 304."""
    path = server.root / "doc2.txt"
    path.write_bytes(b"v1")
    os.utime(path, (MTIME, MTIME))
    old = server.get("/doc2.txt").header("etag")
    path.write_bytes(b"version 2")
    os.utime(path, (MTIME + 5, MTIME + 5))
    resp = server.get("/doc2.txt", {"If-None-Match": old})
    assert resp.status == 200 and resp.body == b"version 2"
    assert resp.header("etag") == etag_of(path)
