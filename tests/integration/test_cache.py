"""The small-file cache: hot small files are served without device reads,
and a file changed, replaced or deleted on disk is never served stale past
--file-cache-validity (here 0: checked on every request)."""

import os
import socket

from harness import Reader, build_request, read_response, wait_until, write_random


def test_a_hot_small_file_is_read_once(launch):
    ferry = launch(args=["--block-size", "64K"])
    (ferry.root / "hot.txt").write_bytes(b"x" * 4096)
    first = ferry.get("/hot.txt")  # the miss that fills the cache
    for _ in range(50):
        hit = ferry.get("/hot.txt")
        assert hit.body == b"x" * 4096
    # A hit's head (built from fields kept with the entry) is the miss's.
    def without_date(response):
        return [(n, v) for n, v in response.header_list if n != "Date"]
    assert without_date(hit) == without_date(first)
    assert hit.header("Content-Type").startswith("text/plain")
    assert ferry.get("/hot.txt", headers={"Range": "bytes=10-19"}).body == b"x" * 10
    counters = ferry.stop()
    assert counters["cache_hits"] >= 50, counters
    assert counters["cache_misses"] == 1, counters


def test_big_files_bypass_the_cache(launch):
    # Nor are they read into the hot cache: that is test_hot_cache.py's.
    ferry = launch(args=["--block-size", "64K", "--hot-cache", "0"])
    big = os.urandom(64 * 1024 + 1)
    (ferry.root / "big.bin").write_bytes(big)
    for _ in range(3):
        assert ferry.get("/big.bin").body == big
    counters = ferry.stop()
    assert counters["cache_hits"] == 0 and counters["cache_misses"] == 0
    assert counters["aio_reads"] + counters["helper_reads"] >= 6


def test_changes_on_disk_are_seen_within_the_validity(launch):
    ferry = launch(args=["--file-cache-validity", "0"])
    page = ferry.root / "page.txt"
    page.write_bytes(b"version one\n")
    assert ferry.get("/page.txt").body == b"version one\n"
    assert ferry.get("/page.txt").body == b"version one\n"  # from the cache
    # Rewritten in place, same size, same inode.
    with open(page, "r+b") as f:
        f.write(b"version two\n")
    assert ferry.get("/page.txt").body == b"version two\n"
    # Replaced by rename.
    replacement = ferry.root / "page.new"
    replacement.write_bytes(b"version three, longer\n")
    os.rename(replacement, page)
    assert ferry.get("/page.txt").body == b"version three, longer\n"
    # Deleted.
    page.unlink()
    assert ferry.get("/page.txt").status == 404


def test_a_stale_entry_is_refreshed_after_the_validity(launch):
    ferry = launch(args=["--file-cache-validity", "300ms"])
    page = ferry.root / "page.txt"
    page.write_bytes(b"old\n")
    assert ferry.get("/page.txt").body == b"old\n"
    page.write_bytes(b"new\n")
    wait_until(lambda: ferry.get("/page.txt").body == b"new\n", 5,
               message="the change to be served")


def test_cached_files_from_256k_up_leave_byte_exact_by_sendfile(launch):
    # From 256 KiB a cached file is kept in a memory file and sent with
    # sendfile(); whole, ranged, multipart and HEAD answers must not change.
    ferry = launch(args=["--block-size", "512K"])
    body = write_random(ferry.root / "mid.bin", 300 * 1024 + 7)
    assert ferry.get("/mid.bin").body == body  # the miss fills the cache
    for _ in range(5):
        assert ferry.get("/mid.bin").body == body
    ranged = ferry.get("/mid.bin", headers={"Range": "bytes=1000-99999"})
    assert ranged.status == 206 and ranged.body == body[1000:100000]
    multi = ferry.get("/mid.bin", headers={"Range": "bytes=0-9999,-280000"})
    assert multi.status == 206
    assert body[:10000] in multi.body and body[-280000:] in multi.body
    head = ferry.get("/mid.bin", method="HEAD")
    assert head.header("content-length") == str(len(body)) and head.body == b""
    # Pipelined on one connection: the heads must not merge into the bodies.
    with ferry.connect() as sock:
        sock.sendall(build_request("/mid.bin") * 3)
        reader = Reader(sock)
        for _ in range(3):
            assert read_response(reader).body == body
    counters = ferry.stop()
    assert counters["cache_misses"] == 1, counters
    assert counters["cache_hits"] >= 11, counters


def test_a_slow_reader_of_a_cached_file_gets_the_version_it_asked_for(launch):
    # The file is replaced on disk and its entry evicted while a client that
    # does not read holds half a response in flight: the rest it reads later
    # is still the old version, whole (the memory file outlives the entry).
    ferry = launch(args=["--file-cache", "1M", "--file-cache-validity", "0"])
    path = ferry.root / "page.bin"
    old = write_random(path, 1024 * 1024, seed=1)
    assert ferry.get("/page.bin").body == old  # cached now
    with ferry.connect() as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        slow.sendall(build_request("/page.bin"))
        reader = Reader(slow)
        head = reader.read_until(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n")[0]
        first = reader.read_exact(64 * 1024)
        new = write_random(ferry.root / "page.new", 1024 * 1024, seed=2)
        os.rename(ferry.root / "page.new", path)
        assert ferry.get("/page.bin").body == new  # evicts and refills
        rest = reader.read_exact(len(old) - len(first))
        assert first + rest == old
    ferry.stop()
