"""--limit-rate and --limit-rate-after: a response goes no faster than the
rate after its first bytes, paced by the loop's wait, never by sleeping.

The times asserted are bounds the daemon controls: a limited download can
never arrive sooner than the rate allows (that is the feature); the upper
bounds are loose, only there to catch a pacer that forgets a connection."""

import subprocess
import threading
import time

import pytest

from harness import (Reader, build_request, ferryd_path, read_response, sanitized,
                     sha256, wait_until, write_random)

KIB = 1024
MIB = 1024 * KIB


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    files = {"/3m.bin": write_random(root / "3m.bin", 3 * MIB),
             "/1m.bin": write_random(root / "1m.bin", MIB)}
    return root, files


def quantum(rate):
    """What one wake-up lets go (SendLimit::Quantum)."""
    return min(max(rate // 20, KIB), 64 * KIB)


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, ticks


def test_curl_download_keeps_to_the_rate(launch, tree):
    """curl fetches 3 MiB at --limit-rate 1M: byte-exact, not sooner than
    the rate allows (the first quantum goes at once), and the bytes held to
    the rate are counted."""
    root, files = tree
    ferry = launch(root=root, args=["--limit-rate", "1M"])
    started = time.monotonic()
    out = subprocess.run(["curl", "-sS", "--http1.1", "-o", "-", ferry.url("/3m.bin")],
                         capture_output=True, timeout=60, check=True).stdout
    took = time.monotonic() - started
    assert sha256(out) == sha256(files["/3m.bin"])
    assert took >= (3 * MIB - quantum(MIB)) / MIB, f"3 MiB in {took:.2f}s at 1 MiB/s"
    assert took < 6, f"3 MiB at 1 MiB/s took {took:.2f}s"
    counters = ferry.stop()
    assert counters["rate_limited_bytes"] >= 3 * MIB
    assert counters["rate_limit_waits"] >= 40  # about 20 a second


def test_the_first_bytes_go_at_full_speed(launch, tree):
    """--limit-rate 256K --limit-rate-after 2M: the first 2 MiB come at
    once (far sooner than the 8 s the rate would take), the last MiB at the
    rate (at least 4 s)."""
    root, files = tree
    ferry = launch(root=root, args=["--limit-rate", "256K",
                                    "--limit-rate-after", "2M"])
    with ferry.connect(30) as sock:
        started = time.monotonic()
        sock.sendall(build_request("/3m.bin", close=True))
        reader = Reader(sock)
        head = reader.read_until(b"\r\n\r\n")
        first = reader.read_exact(2 * MIB - len(head))
        first_after = time.monotonic() - started
        rest = reader.read_to_eof()
        took = time.monotonic() - started
    assert sha256(first + rest) == sha256(files["/3m.bin"])
    assert first_after < 4, f"the free 2 MiB took {first_after:.2f}s"
    assert took >= (MIB - quantum(256 * KIB)) / (256 * KIB), f"took {took:.2f}s"
    assert took < 10, f"took {took:.2f}s"


def test_twenty_paced_connections_keep_their_rate_and_the_loop_idles(launch, tree):
    """20 connections each limited to 512K/s fetch 1 MiB at once: each is
    byte-exact and takes about 2 s, while the worker, woken twenty times a
    second per connection, uses a small part of one core (no spinning)."""
    root, files = tree
    ferry = launch(root=root, args=["--limit-rate", "512K"])
    worker = wait_until(ferry.worker_pids, 10, message="the worker")[0]
    cpu_before = cpu_seconds(worker)
    results, errors = [], []

    def fetch():
        try:
            with ferry.connect(30) as sock:
                started = time.monotonic()
                sock.sendall(build_request("/1m.bin", close=True))
                resp = read_response(Reader(sock))
                results.append((time.monotonic() - started, resp))
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    wall_started = time.monotonic()
    threads = [threading.Thread(target=fetch) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - wall_started
    cpu = cpu_seconds(worker) - cpu_before
    assert not errors, errors
    digest = sha256(files["/1m.bin"])
    for took, resp in results:
        assert resp.status == 200 and sha256(resp.body) == digest
        assert took >= (MIB - quantum(512 * KIB)) / (512 * KIB), f"took {took:.2f}s"
        assert took < 8, f"took {took:.2f}s"
    print(f"20 paced connections: {wall:.2f}s wall, worker CPU {cpu:.2f}s")
    # A loop that spins uses the whole wall time. Release: 0.13-0.16 s here.
    # ThreadSanitizer makes every step several times dearer (0.5-1.0 s, 1.25 s
    # in one CI run, the same with the hot cache off): judged looser there.
    share = 0.75 if sanitized() else 0.25
    assert cpu < wall * share, f"the worker used {cpu:.2f}s of CPU in {wall:.2f}s"


def test_a_paced_client_is_not_closed_by_the_minimum_rate(launch, tree):
    """--limit-rate 1K with --send-min-rate 4K and a 2 s send timeout: the
    client we hold back reads all we send, so it is not too slow (the
    minimum is lowered under the limit) and not timed out while it waits."""
    root, _ = tree
    (root / "small.bin").write_bytes(b"x" * 6 * KIB)
    ferry = launch(root=root, args=["--limit-rate", "1K", "--send-min-rate", "4K",
                                    "--send-timeout", "2s"])
    with ferry.connect(30) as sock:
        sock.sendall(build_request("/small.bin", close=True))
        resp = read_response(Reader(sock))
    assert resp.status == 200 and resp.body == b"x" * 6 * KIB
    counters = ferry.stop()
    assert counters["timeouts"] == 0, counters


@pytest.mark.parametrize("args,flag", [
    (["--limit-rate", "512"], "--limit-rate"),
    (["--limit-rate", "fast"], "--limit-rate"),
    (["--limit-rate-after", "-1"], "--limit-rate-after"),
])
def test_bad_values_name_the_flag(tmp_path, args, flag):
    done = subprocess.run([ferryd_path(), "--root", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 64, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], done.stderr
