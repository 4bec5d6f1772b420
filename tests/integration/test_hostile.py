"""Clients that attack or misbehave (issue 5): slowloris with the real tool,
stalled readers against a small buffer pool, connection floods, running out
of descriptors, Range amplification, and a symlink swapped in during the
request.

What test_connections.py and test_errors.py already cover (one slowloris
trickle, one stalled reader, the 6th connection's 503, the static traversal
corpus, smuggling) is not repeated here; these tests push the same limits at
scale and check that everyone *else* is still served.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import re
import selectors
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import (HELLO, SECRET_MARKER, Reader, build_request, holds_socket,
                     raise_nofile_limit, read_response, server_socket_inode, sha256,
                     make_random_tree, wait_until, write_random)

MIB = 1 << 20
BIG = 64 * MIB
CLK_TCK = os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root, files = make_random_tree(
        tmp_path_factory.mktemp("hostile"),
        {"s100k.bin": 100_000, "m1.bin": MIB + 5, "m16.bin": 16 * MIB + 3})
    files["/big.bin"] = write_random(root / "big.bin", BIG, seed=64)
    return root, files


def unsent_bytes(port: int, client: socket.socket) -> int:
    """Bytes queued in the server-side socket connected to `client`
    (tx_queue of /proc/net/tcp)."""
    cport = client.getsockname()[1]
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (int(local.split(":")[1], 16) == port and
                    int(remote.split(":")[1], 16) == cport):
                return int(fields[4].split(":")[0], 16)
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid`, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def timed_get(ferry, path: str, timeout: float = 5.0, headers: dict | None = None):
    start = time.monotonic()
    resp = ferry.get(path, headers=headers, timeout=timeout)
    return resp, time.monotonic() - start


class NormalClient(threading.Thread):
    """Requests `paths` round-robin on fresh connections until stopped, and
    records every latency and every failure."""

    def __init__(self, ferry, files: dict[str, bytes], paths: list[str],
                 pause: float = 0.02):
        super().__init__(daemon=True)
        self.ferry, self.files, self.paths, self.pause = ferry, files, paths, pause
        self.stop_event = threading.Event()
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def run(self):
        i = 0
        while not self.stop_event.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            start = time.monotonic()
            try:
                resp = self.ferry.get(path, timeout=5.0)
                elapsed = time.monotonic() - start
                if resp.status != 200 or resp.body != self.files[path]:
                    self.failures.append(f"{path}: status {resp.status}, "
                                         f"{len(resp.body)} bytes")
            except Exception as exc:  # recorded; the test asserts on it
                elapsed = time.monotonic() - start
                self.failures.append(f"{path}: {exc!r} after {elapsed:.2f}s")
            self.latencies.append(elapsed)
            self.stop_event.wait(self.pause)

    def finish(self) -> list[float]:
        self.stop_event.set()
        self.join(15)
        assert not self.is_alive(), "normal client stuck"
        return self.latencies


# --------------------------------------------------------------------------
# 1. slowloris with slowhttptest

SLOW_SECONDS = 25


def test_slowloris_slowhttptest(launch, tree, tmp_path):
    """slowhttptest keeps ~1000 slow-header connections open against
    --header-timeout 2s for 25 s (asking for 1500 new connections a second as the daemon cuts them);
    a normal client's every request succeeds (99% in 250 ms), and the daemon's
    `timeouts` counter accounts for the connections slowhttptest saw closed."""
    tool = shutil.which("slowhttptest")
    if tool is None:
        pytest.skip("slowhttptest is not installed (Debian package slowhttptest)")
    root, files = tree
    limit = raise_nofile_limit()
    assert limit >= 4096, f"RLIMIT_NOFILE hard limit {limit} too low for 1000 slow clients"
    ferry = launch(root=root, args=["--header-timeout", "2s", "--max-connections", "4000"])
    normal = NormalClient(ferry, files, ["/hello.txt", "/s100k.bin", "/m1.bin"])
    report = tmp_path / "slow"
    attack = subprocess.Popen(
        [tool, "-H", "-c", "30000", "-r", "1500", "-i", "1", "-x", "24",
         "-l", str(SLOW_SECONDS), "-p", "3", "-t", "GET",
         "-u", ferry.url("/hello.txt"), "-g", "-o", str(report)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    normal.start()
    try:
        out, _ = attack.communicate(timeout=SLOW_SECONDS + 20)
    finally:
        if attack.poll() is None:
            attack.kill()
            attack.wait()
        latencies = normal.finish()
    text = out.decode("utf-8", "replace")
    with open(f"{report}.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows, f"slowhttptest wrote no statistics:\n{text[-2000:]}"
    peak = max(int(r["Connected"]) for r in rows)
    closed = int(rows[-1]["Closed"])
    counters = ferry.stop()
    print(f"slowloris: peak {peak} slow connections, {closed} closed by the server, "
          f"normal client {len(latencies)} requests, max {max(latencies) * 1000:.0f} ms, "
          f"mean {sum(latencies) / len(latencies) * 1000:.1f} ms; timeouts="
          f"{counters['timeouts']} accepted={counters['accepted']}")
    assert peak >= 800, f"the attack never held ~1000 connections (peak {peak}):\n{text[-2000:]}"
    held = [int(r["Connected"]) for r in rows[3:-1]]
    # A precondition on the attacker, not on ferryd: slowhttptest re-opens
    # what the header timeout cuts, and on a loaded host (an ASan build, CI
    # beside other work) it dips for seconds now and then (304..451 for a
    # third of a run once, averaging 700). Held: 500 on average, never
    # under 250.
    assert held and sum(held) / len(held) >= 500 and min(held) >= 250, (
        f"the attack did not hold its connections: {held}")
    assert not normal.failures, normal.failures[:5]
    assert len(latencies) >= 100, f"only {len(latencies)} normal requests in {SLOW_SECONDS}s"
    # Every request succeeds, 99% within 250 ms, none over 2 s. (A local
    # CI run beside other tests saw one request of 1,067 at 1.15 s, mean
    # 3.4 ms, with no listen-queue drop in the kernel's counters: the
    # client's or the daemon's scheduling on two loaded cores, not found.)
    p99 = sorted(latencies)[int(len(latencies) * 0.99)]
    assert p99 < 0.25, f"99% of normal requests within {p99:.2f}s"
    assert max(latencies) < 2.0, f"a normal request took {max(latencies):.2f}s"
    assert closed >= 2000, f"slowhttptest saw only {closed} connections closed"
    # Every connection slowhttptest saw closed was closed by the header timeout.
    assert counters["timeouts"] >= closed, (counters, closed)
    assert counters["rejected"] == 0, counters


# --------------------------------------------------------------------------
# 2. stalled readers against a small buffer pool

# --hot-cache 0: the file asked for again would be pinned, 64 MiB of RSS that
# the stalled readers do not make (test_hot_cache.py tests pins).
STALL_ARGS = ["--buffer-memory", "8M", "--block-size", "1M", "--read-ahead", "2",
              "--file-cache", "0", "--hot-cache", "0", "--send-timeout", "4s"]
STALL_TIMEOUT = 4.0


def open_stalled_readers(ferry, count: int, path: str = "/big.bin"):
    """`count` clients with a 4 KiB receive buffer that request `path` and
    never read. Returns (sockets, server-side socket inodes)."""
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((ferry.host, ferry.port))
        sock.sendall(build_request(path))
        socks.append(sock)
    inodes = [wait_until(lambda s=s: server_socket_inode(ferry.port, s), 5,
                         message="the server side of a stalled reader") for s in socks]
    return socks, inodes


def wait_queues_settled(ferry, socks, timeout: float = 3.0):
    """Waits (at most `timeout`) until the daemon has pushed what it will
    into the stalled sockets: their send queues hold data and the total has
    moved by under 1% over the last 0.3 s. bytes_sent is not visible live;
    the send queues are. Not settling is no failure of the daemon's: the
    caller carries on, and says so."""
    history = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history.append(sum(unsent_bytes(ferry.port, s) for s in socks))
        recent = history[-4:]
        if len(recent) == 4 and recent[-1] > 0 and max(recent) - min(recent) <= recent[-1] / 100:
            return
        time.sleep(0.1)
    print(f"note: the stalled sockets' send queues still moving after {timeout}s: "
          f"{history[-6:]}")


def test_stalled_readers_dropped_and_memory_flat(launch, tree):
    """--buffer-memory 8M, --send-timeout 4s: 20 clients with a 4 KiB receive
    buffer ask for 64 MiB and stop reading. The worker's RSS does not grow
    with them (< 4 MiB), and every one is closed between 3.5 s and
    --send-timeout + 1 s after it stalled, counted in `timeouts`."""
    root, files = tree
    ferry = launch(root=root, args=STALL_ARGS)
    assert ferry.get("/m16.bin", timeout=20).body == files["/m16.bin"]  # warm-up
    rss_before = ferry.rss_kib()
    # The first reader can stall as soon as it has connected: the earliest
    # drop is measured from before the first connect; the latest from once
    # all are open (finding their server sides runs `ss` twenty times,
    # which took over a second in a loaded CI run).
    opened = time.monotonic()
    stalled, inodes = open_stalled_readers(ferry, 20)
    t0 = time.monotonic()
    workers = ferry.worker_pids()
    try:
        def held():
            return sum(holds_socket(workers, i) for i in inodes)
        assert held() == 20
        wait_queues_settled(ferry, stalled)
        rss_stalled = ferry.rss_kib()
        wait_until(lambda: held() == 0, t0 + STALL_TIMEOUT + 1.0 - time.monotonic(),
                   interval=0.05, message="the stalled readers to be dropped")
        dropped_after = time.monotonic() - opened
    finally:
        for sock in stalled:
            sock.close()
    print(f"20 stalled readers dropped {dropped_after:.2f}s after stalling; "
          f"RSS {rss_before} -> {rss_stalled} KiB")
    assert dropped_after >= STALL_TIMEOUT - 0.5, (
        f"stalled readers dropped after {dropped_after:.2f}s, before --send-timeout")
    assert rss_stalled - rss_before < 4096, (
        f"RSS grew {rss_stalled - rss_before} KiB with 20 stalled readers")
    assert ferry.get("/hello.txt").body == HELLO
    counters = ferry.stop()
    assert counters["timeouts"] >= 20, counters


def test_stalled_readers_cannot_starve_others(launch, tree):
    """Same pool (8 blocks of 1 MiB, read-ahead 2), 20 stalled readers of a
    64 MiB file: while they are all still connected, a normal client
    downloads 16 MiB byte-exact in under 2 s. Stalled readers must not hold
    more than their share of the pool, and a client waiting for a block is
    not the one to blame for a send timeout."""
    root, files = tree
    ferry = launch(root=root, args=STALL_ARGS)
    stalled, inodes = open_stalled_readers(ferry, 20)
    workers = ferry.worker_pids()
    try:
        wait_queues_settled(ferry, stalled)
        start = time.monotonic()
        with ferry.connect(15) as sock:
            sock.sendall(build_request("/m16.bin", close=True))
            reader = Reader(sock)
            try:
                resp = read_response(reader)
                error = None
            except (EOFError, socket.timeout, TimeoutError) as exc:
                error = exc
        took = time.monotonic() - start
        still = sum(holds_socket(workers, i) for i in inodes)
    finally:
        for sock in stalled:
            sock.close()
    print(f"normal download: {took:.2f}s, {still}/20 stalled readers still connected")
    assert error is None, (
        f"the normal client got {error!r} after {took:.2f}s "
        f"({len(reader.buf)} bytes, not even a head): starved of buffer blocks by "
        f"20 stalled readers, then closed ({still}/20 stalled readers still connected)")
    assert resp.status == 200 and sha256(resp.body) == sha256(files["/m16.bin"])
    assert took < 2.0 and still == 20, (
        f"the normal download took {took:.2f}s and finished with only {still}/20 "
        f"stalled readers connected: it waited for them to time out")


# --------------------------------------------------------------------------
# 3. connection flood past --max-connections

def test_connection_flood(launch, tree):
    """--max-connections 50: 50 established keep-alive clients, then 400
    more connect at once, each with a request. Every excess client gets a 503
    or a closed socket within 1 s; the 50 keep working (a request on each
    during the flood, byte-exact, < 1 s); `rejected` counts the flood; after
    it, freed slots serve new clients."""
    root, files = tree
    raise_nofile_limit()
    ferry = launch(root=root, args=["--max-connections", "50"])
    established = []
    readers = []
    try:
        for _ in range(50):
            sock = ferry.connect(5)
            sock.sendall(build_request("/hello.txt"))
            reader = Reader(sock)
            assert read_response(reader).body == HELLO
            established.append(sock)
            readers.append(reader)

        flood_results: dict[int, tuple[str, float]] = {}

        def flood():
            sel = selectors.DefaultSelector()
            started = {}
            socks = []
            for i in range(400):
                s = socket.socket()
                s.setblocking(False)
                err = s.connect_ex((ferry.host, ferry.port))
                assert err in (0, errno.EINPROGRESS), os.strerror(err)
                started[i] = time.monotonic()
                socks.append(s)
                sel.register(s, selectors.EVENT_WRITE, (i, bytearray()))
            deadline = time.monotonic() + 10
            while len(flood_results) < len(socks) and time.monotonic() < deadline:
                for key, events in sel.select(0.5):
                    i, buf = key.data
                    s = key.fileobj
                    if events & selectors.EVENT_WRITE:
                        with contextlib.suppress(OSError):
                            s.send(build_request("/m1.bin"))
                        sel.modify(s, selectors.EVENT_READ, key.data)
                        continue
                    try:
                        data = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    buf += data
                    if not data or b"\r\n\r\n" in buf:
                        what = bytes(buf.split(b"\r\n", 1)[0]) if buf else "closed"
                        flood_results[i] = (what, time.monotonic() - started[i])
                        sel.unregister(s)
            for s in socks:
                s.close()
            sel.close()

        flooder = threading.Thread(target=flood)
        flooder.start()
        slow = []
        while flooder.is_alive() or not slow:
            for idx, (sock, reader) in enumerate(zip(established, readers)):
                start = time.monotonic()
                sock.sendall(build_request("/s100k.bin"))
                resp = read_response(reader)
                took = time.monotonic() - start
                assert resp.status == 200 and resp.body == files["/s100k.bin"], idx
                slow.append(took)
            if not flooder.is_alive():
                break
        flooder.join(20)
        assert len(flood_results) == 400, f"only {len(flood_results)} of 400 flooders answered"
        statuses = {}
        for what, _ in flood_results.values():
            key = what if isinstance(what, str) else what.decode("latin-1")
            statuses[key] = statuses.get(key, 0) + 1
        worst = max(t for _, t in flood_results.values())
        print(f"flood: {statuses}; slowest answer {worst * 1000:.0f} ms; established "
              f"clients' worst request {max(slow) * 1000:.0f} ms over {len(slow)}")
        bad = {k: v for k, v in statuses.items()
               if k != "closed" and not k.startswith("HTTP/1.1 503")}
        assert not bad, f"excess clients got something other than 503/close: {bad}"
        assert worst < 1.0, f"an excess client waited {worst:.2f}s for its 503/close"
        assert max(slow) < 1.0, f"an established client waited {max(slow):.2f}s"

        # Recovery: free ten slots; new clients are served again.
        for sock in established[:10]:
            sock.close()

        def served():
            try:
                return ferry.get("/hello.txt", timeout=2).status == 200
            except (EOFError, OSError):
                return False
        wait_until(served, 5.0, interval=0.05, message="a freed slot to serve a new client")
        for _ in range(5):
            assert ferry.get("/m1.bin").body == files["/m1.bin"]
        for sock, reader in zip(established[10:], readers[10:]):
            sock.sendall(build_request("/hello.txt"))
            assert read_response(reader).body == HELLO
    finally:
        for sock in established:
            sock.close()
    counters = ferry.stop()
    assert counters["rejected"] >= 400, counters


# --------------------------------------------------------------------------
# 4. out of descriptors

def test_emfile_does_not_spin_and_backlog_is_served(launch, tree):
    """Under prlimit --nofile=64:64, idle clients use up the worker's
    descriptors (EMFILE on accept). While that lasts, ferryd uses < 10% of a
    core over 5 s; five clients that connected and sent a request during it
    wait in the backlog and are answered once the idle clients leave."""
    root, files = tree
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is not installed")
    ferry = launch(root=root, wrapper=["prlimit", "--nofile=64:64"],
                   args=["--header-timeout", "60s", "--idle-timeout", "60s"])
    idle = []
    queued = []
    try:
        # More idle clients than the worker has descriptors left.
        for _ in range(70):
            idle.append(ferry.connect(5))
        wait_until(lambda: "Too many open files" in ferry.stderr_text(), 5,
                   message="accept to hit EMFILE")
        for _ in range(5):
            sock = ferry.connect(10)
            sock.sendall(build_request("/m1.bin", close=True))
            queued.append(sock)
        pids = [ferry.pid, *ferry.worker_pids()]
        before = {p: cpu_seconds(p) for p in pids}
        t_start = time.monotonic()
        time.sleep(5.0)  # the measurement window itself, not a synchronisation
        wall = time.monotonic() - t_start
        used = {p: cpu_seconds(p) - before[p] for p in pids}
        print(f"EMFILE: CPU over {wall:.1f}s: {used}")
        for pid, seconds in used.items():
            assert seconds < 0.1 * wall, (
                f"pid {pid} used {seconds:.2f}s of CPU in {wall:.1f}s while EMFILE lasted")
        for sock in queued:  # nothing can have been served yet: no fd was free
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
            sock.setblocking(True)

        for sock in idle:
            sock.close()
        idle.clear()
        start = time.monotonic()
        for i, sock in enumerate(queued):
            sock.settimeout(5.0)
            try:
                resp = read_response(Reader(sock))
            except (socket.timeout, TimeoutError):
                pytest.fail(f"backlogged client {i} not answered within 5 s of fds freeing")
            assert resp.status == 200 and resp.body == files["/m1.bin"], i
        print(f"backlog served {time.monotonic() - start:.2f}s after the fds freed")
        assert ferry.get("/hello.txt").body == HELLO
    finally:
        for sock in idle + queued:
            sock.close()


# --------------------------------------------------------------------------
# 5. Range amplification

def parse_parts(resp) -> list[tuple[int, int, bytes]]:
    """(first, last, payload) for each part of a multipart/byteranges body."""
    m = re.match(r'multipart/byteranges;\s*boundary="?([^";]+)"?',
                 resp.header("content-type") or "")
    assert m, f"not multipart: {resp.header('content-type')!r}"
    delim = b"--" + m.group(1).encode()
    body = resp.body
    pos = body.index(delim)
    parts = []
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            break
        head_end = body.index(b"\r\n\r\n", pos)
        cr = re.search(rb"(?i)content-range:\s*bytes (\d+)-(\d+)/(\d+)", body[pos:head_end])
        assert cr, body[pos:head_end]
        first, last = int(cr.group(1)), int(cr.group(2))
        start = head_end + 4
        end = start + last - first + 1
        parts.append((first, last, body[start:end]))
        assert body[end:end + 2 + len(delim)] == b"\r\n" + delim
        pos = end + 2
    return parts


def check_not_amplified(resp, data: bytes) -> tuple[int, int]:
    """The response carries each byte of the file at most once, all correct.
    Returns (parts, payload bytes)."""
    size = len(data)
    if resp.status == 200:
        assert resp.body == data
        return 1, size
    if resp.status in (416, 431, 400):
        assert len(resp.body) < 4096
        return 0, 0
    assert resp.status == 206, resp.status
    if resp.header("content-range"):
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", resp.header("content-range"))
        first, last = int(m.group(1)), int(m.group(2))
        assert resp.body == data[first:last + 1]
        return 1, len(resp.body)
    parts = parse_parts(resp)
    spans = sorted((f, l) for f, l, _ in parts)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert a1 + 1 < b0, f"parts {a0}-{a1} and {b0}-{b1} overlap or touch: not coalesced"
    for first, last, payload in parts:
        assert payload == data[first:last + 1]
    payload = sum(l - f + 1 for f, l in spans)
    assert payload <= size
    # Per-part overhead is a boundary line and two short headers.
    assert len(resp.body) <= payload + 200 * len(parts) + 200, (
        f"{len(resp.body)} body bytes for {payload} payload in {len(parts)} parts")
    return len(parts), payload


@pytest.fixture(scope="module")
def range_servers(module_launch, tree):
    root, files = tree
    default = module_launch(root=root)
    lax = module_launch(root=root, args=["--max-ranges", "10000",
                                         "--max-header-bytes", "1M",
                                         "--max-request-line", "1M"])
    return default, lax, files["/s100k.bin"]


RANGE_CASES = [
    ("whole file x1500", ",".join(["0-99999"] * 1500)),
    ("0-0 x3000", ",".join(["0-0"] * 3000)),
    ("suffixes x1500", ",".join(["-99999"] * 1500)),
    ("open-ended x2500", ",".join(["0-"] * 2500)),
    ("sliding overlap x1200", ",".join(f"{i * 80}-{i * 80 + 5000}" for i in range(1200))),
    ("descending overlap x1200", ",".join(f"{i * 80}-{i * 80 + 500}"
                                          for i in reversed(range(1200)))),
    ("64 touching", ",".join(f"{i}-{i}" for i in range(64))),
    ("64 disjoint reversed", ",".join(f"{i * 3}-{i * 3}" for i in reversed(range(64)))),
]


@pytest.mark.parametrize("name,spec", RANGE_CASES, ids=[c[0] for c in RANGE_CASES])
def test_range_lists_never_amplify(range_servers, name, spec):
    """Thousands of (overlapping) ranges under the default limits: the body
    never carries a byte of the file twice and never exceeds its size plus
    per-part overhead."""
    default, _, data = range_servers
    resp = default.get("/s100k.bin", {"Range": f"bytes={spec}"})
    parts, payload = check_not_amplified(resp, data)
    print(f"{name}: {resp.status}, {parts} parts, {payload} payload, {len(resp.body)} body")


def test_ten_thousand_zero_ranges(range_servers):
    """One request with 10,000 '0-0' ranges (limits raised so the daemon has
    to parse them all): one byte comes back, not 10,000 parts; and with the
    default limits the header is refused or ignored, never amplified."""
    default, lax, data = range_servers
    spec = "bytes=" + ",".join(["0-0"] * 10_000)
    resp, took = timed_get(lax, "/s100k.bin", headers={"Range": spec})
    assert resp.status == 206, resp.status
    assert resp.header("content-range") == f"bytes 0-0/{len(data)}"
    assert resp.body == data[:1]
    assert took < 1.0, f"10,000 ranges took {took:.2f}s"
    resp = default.get("/s100k.bin", {"Range": spec})
    check_not_amplified(resp, data)
    assert resp.status in (200, 206, 400, 431), resp.status


def test_two_thousand_disjoint_ranges_not_amplified(range_servers):
    """--max-ranges 10000: 2,000 disjoint one-byte ranges, in descending
    order, come back as 2,000 byte-exact parts in ascending order, each byte
    once, with no more than the per-part overhead."""
    _, lax, data = range_servers
    spec = "bytes=" + ",".join(f"{i * 50}-{i * 50}" for i in reversed(range(2000)))
    resp = lax.get("/s100k.bin", {"Range": spec}, timeout=20)
    parts, payload = check_not_amplified(resp, data)
    assert parts == 2000 and payload == 2000, (parts, payload)


def test_range_lists_do_not_stall_the_loop(range_servers):
    """--max-ranges 10000 (the largest the flag allows): ten clients at once
    each send HEAD with 10,000 disjoint ranges in descending order (the order
    that makes the daemon look for overlaps). Parsing them must not block the
    worker: a concurrent client is answered in under 1 s every time."""
    _, lax, data = range_servers
    rev = "bytes=" + ",".join(f"{i * 10}-{i * 10}" for i in reversed(range(9999)))
    asc = "bytes=" + ",".join(f"{i * 10}-{i * 10}" for i in range(9999))
    resp, took_asc = timed_get(lax, "/s100k.bin", headers={"Range": asc})
    assert resp.status == 206
    lat = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            _, took = timed_get(lax, "/hello.txt", timeout=20)
            lat.append(took)
            stop.wait(0.01)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        attackers = []
        for _ in range(10):
            sock = lax.connect(30)
            attackers.append(sock)
        raw = build_request("/s100k.bin", "HEAD", {"Range": rev}, close=True)
        start = time.monotonic()
        for sock in attackers:
            sock.sendall(raw)
        for sock in attackers:
            resp = read_response(Reader(sock), "HEAD")
            assert resp.status == 206, resp.status
        took = time.monotonic() - start
        stop.wait(0.2)
    finally:
        stop.set()
        prober.join(30)
        for sock in attackers:
            sock.close()
    print(f"10 x HEAD with 10k descending ranges: {took:.2f}s in all (GET with 10k "
          f"ascending: {took_asc:.3f}s); concurrent client worst "
          f"{max(lat) * 1000:.0f} ms over {len(lat)} requests")
    assert max(lat) < 1.0, (
        f"a concurrent request waited {max(lat):.2f}s while ten 10,000-range headers "
        f"were parsed ({took:.2f}s for the ten): the overlap check blocks the loop")


# --------------------------------------------------------------------------
# 6. a symlink swapped during the request

@pytest.mark.parametrize("cache_args", [["--file-cache", "0"],
                                        ["--file-cache-validity", "10ms"]],
                         ids=["no-cache", "cache-10ms"])
def test_symlink_swap_race_never_leaks(launch, tmp_path, cache_args):
    """A thread flips root/swap (a file link) and root/swapdir (a directory
    link) between targets inside the root and outside it (relative and
    absolute) while 500 requests for each are made on keep-alive
    connections (and on until both outcomes were seen): never a byte of
    the outside secret, only the inside content or 404."""
    base = tmp_path / "race"
    root = base / "root"
    (root / "realdir").mkdir(parents=True)
    outdir = base / "outdir"
    outdir.mkdir()
    secret = SECRET_MARKER * 200 + b"\n"
    (base / "secret.txt").write_bytes(secret)
    (outdir / "f.txt").write_bytes(secret)
    inside = b"inside the root\n" * 300
    (root / "inside.txt").write_bytes(inside)
    (root / "realdir" / "f.txt").write_bytes(inside)
    file_targets = ["inside.txt", "../secret.txt", str(base / "secret.txt")]
    dir_targets = ["realdir", "../outdir", str(outdir)]
    os.symlink("inside.txt", root / "swap")
    os.symlink("realdir", root / "swapdir")
    # Short cache validity so the cache does not hide the race from the open path.
    ferry = launch(root=root, args=cache_args)

    stop = threading.Event()
    flips = [0]

    def flipper():
        i = 0
        while not stop.is_set():
            i += 1
            for name, targets in (("swap", file_targets), ("swapdir", dir_targets)):
                tmp = root / f".{name}.tmp"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                os.symlink(targets[i % 3], tmp)
                os.replace(tmp, root / name)
            flips[0] = i

    thread = threading.Thread(target=flipper, daemon=True)
    thread.start()
    statuses: dict[tuple[str, int], int] = {}
    try:
        for path in ("/swap", "/swapdir/f.txt"):
            sock = ferry.connect(10)
            reader = Reader(sock)
            try:
                n = 0
                deadline = time.monotonic() + 10
                # At least 500 requests, and on until both outcomes were seen
                # and the flipper (a Python thread, sharing the GIL with this
                # loop) has really raced them.
                while n < 500 or ((len({st for (p, st) in statuses if p == path}) < 2
                                   or flips[0] <= 100)
                                  and time.monotonic() < deadline):
                    n += 1
                    sock.sendall(build_request(path))
                    resp = read_response(reader)
                    assert SECRET_MARKER not in resp.raw_head + resp.body, (
                        f"{path}: the secret outside the root was served")
                    assert resp.status in (200, 404), (path, resp.status)
                    if resp.status == 200:
                        assert resp.body == inside, path
                    statuses[(path, resp.status)] = statuses.get((path, resp.status), 0) + 1
                    if (resp.header("connection") or "").lower() == "close":
                        sock.close()
                        sock = ferry.connect(10)
                        reader = Reader(sock)
            finally:
                sock.close()
    finally:
        stop.set()
        thread.join(5)
    print(f"symlink race: {flips[0]} flips, outcomes {statuses}")
    assert flips[0] > 100, "the flipper barely ran: the race was not exercised"
    for path in ("/swap", "/swapdir/f.txt"):
        assert statuses.get((path, 404), 0) > 0, f"{path}: never saw the outside target"
        assert statuses.get((path, 200), 0) > 0, f"{path}: never saw the inside target"
