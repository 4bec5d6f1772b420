"""The small-file cache: hot small files are served without device reads,
and a file changed, replaced or deleted on disk is never served stale past
--file-cache-validity (here 0: checked on every request)."""

import os

from harness import wait_until


def test_a_hot_small_file_is_read_once(launch):
    ferry = launch(args=["--block-size", "64K"])
    (ferry.root / "hot.txt").write_bytes(b"x" * 4096)
    for _ in range(50):
        assert ferry.get("/hot.txt").body == b"x" * 4096
    assert ferry.get("/hot.txt", headers={"Range": "bytes=10-19"}).body == b"x" * 10
    counters = ferry.stop()
    assert counters["cache_hits"] >= 50, counters
    assert counters["cache_misses"] == 1, counters


def test_big_files_bypass_the_cache(launch):
    ferry = launch(args=["--block-size", "64K"])
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
