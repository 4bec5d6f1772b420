"""Connection handling: pipelining, keep-alive, HTTP/1.0, many clients,
aborted downloads, a file that shrinks, timeouts, limits, graceful stop."""

import os
import signal
import socket
import struct
import threading
import time

import pytest

from harness import (HELLO, Reader, build_request, close_clients, file_sha256,
                     holds_socket, open_clients, open_fd_count, raise_nofile_limit,
                     read_response, run_round, sanitized, server_socket_inode, sha256,
                     wait_until, write_random)

BIG = 64 << 20
MIB = 1 << 20


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A root with small files of several sizes and a 64 MiB file."""
    root = tmp_path_factory.mktemp("conn") / "root"
    root.mkdir()
    files = {}
    for name, size in [("s1", 1), ("s4k", 4096), ("s20k", 20000), ("s100k", 100_001),
                       ("m1", MIB + 7), ("m4", 4 * MIB + 3)]:
        files[f"/{name}.bin"] = write_random(root / f"{name}.bin", size)
    files["/big.bin"] = write_random(root / "big.bin", BIG)
    (root / "hello.txt").write_bytes(HELLO)
    files["/hello.txt"] = HELLO
    (root / "dir").mkdir()
    (root / "dir" / "index.html").write_bytes(b"index\n")
    return root, files


@pytest.fixture(scope="module")
def server(module_launch, tree):
    root, files = tree
    raise_nofile_limit()
    ferry = module_launch(root=root, args=["--max-connections", "4000"])
    ferry.files = files
    return ferry


def test_pipelining_in_order(server):
    """Seven requests in one send: seven responses, in order, byte-exact."""
    files = server.files
    reqs = [("GET", "/m1.bin", {}), ("HEAD", "/s20k.bin", {}), ("GET", "/hello.txt", {}),
            ("GET", "/missing", {}), ("GET", "/dir", {}),
            ("GET", "/m1.bin", {"Range": "bytes=1000-2999"}), ("GET", "/s4k.bin", {})]
    raw = b"".join(build_request(p, m, h) for m, p, h in reqs[:-1])
    raw += build_request(reqs[-1][1], close=True)
    with server.connect() as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        got = [read_response(reader, m) for m, _, _ in reqs]
        tail = reader.read_to_eof()
    assert [r.status for r in got] == [200, 200, 200, 404, 301, 206, 200]
    assert got[0].body == files["/m1.bin"]
    assert got[1].body == b"" and got[1].header("content-length") == "20000"
    assert got[2].body == HELLO
    assert got[5].body == files["/m1.bin"][1000:3000]
    assert got[6].body == files["/s4k.bin"]
    assert tail == b""


def test_pipelining_byte_by_byte(server):
    """Two requests sent one byte at a time (split anywhere) are both answered."""
    raw = build_request("/hello.txt") + build_request("/s1.bin", close=True)
    with server.connect() as sock:
        for i in range(len(raw)):
            sock.sendall(raw[i:i + 1])
        reader = Reader(sock)
        assert read_response(reader).body == HELLO
        assert read_response(reader).body == server.files["/s1.bin"]


def test_http10_closes(server):
    """HTTP/1.0 without keep-alive: the connection closes after the response."""
    with server.connect() as sock:
        sock.sendall(b"GET /s4k.bin HTTP/1.0\r\n\r\n")
        reader = Reader(sock)
        resp = read_response(reader)
        assert resp.body == server.files["/s4k.bin"]
        assert reader.at_eof(5.0), "HTTP/1.0 connection left open"


def test_connection_close_honoured(server):
    """HTTP/1.1 with Connection: close: closed after the response."""
    with server.connect() as sock:
        sock.sendall(build_request("/hello.txt", close=True))
        reader = Reader(sock)
        assert read_response(reader).body == HELLO
        assert reader.at_eof(5.0)


def test_keep_alive_reuse(server):
    """Twenty sequential requests on one socket, each answered byte-exact."""
    names = ["/hello.txt", "/s1.bin", "/s4k.bin", "/s20k.bin", "/s100k.bin"]
    with server.connect() as sock:
        reader = Reader(sock)
        for i in range(20):
            path = names[i % len(names)]
            sock.sendall(build_request(path))
            resp = read_response(reader)
            assert resp.status == 200 and resp.body == server.files[path], (i, path)
            assert (resp.header("connection") or "").lower() != "close"


def test_1000_concurrent_keepalive_clients(server):
    """1000 connections open at once, each doing 2 keep-alive requests, all byte-exact."""
    small = ["/s1.bin", "/s4k.bin", "/s20k.bin", "/s100k.bin", "/hello.txt"]
    clients = open_clients(server, 1000)
    try:
        first = run_round(clients, lambda i: small[i % 5], server.files, timeout=60)
        assert not first, f"{len(first)} failures, e.g. {first[:5]}"
        # All 1000 are still open here: the second round reuses them.
        second = run_round(clients, lambda i: small[(i + 2) % 5], server.files, timeout=60)
        assert not second, f"{len(second)} failures, e.g. {second[:5]}"
    finally:
        close_clients(clients)


def worker_fds(ferry) -> int:
    return sum(open_fd_count(p) for p in ferry.worker_pids())


def abort_downloads(ferry, count: int, path: str, read_bytes: int):
    """`count` clients start downloading `path`, read ~read_bytes, then vanish
    (half with a plain close, half with an RST)."""
    socks = []
    for _ in range(count):
        sock = ferry.connect()
        sock.sendall(build_request(path))
        socks.append(sock)
    for i, sock in enumerate(socks):
        got = 0
        while got < read_bytes:
            data = sock.recv(min(1 << 16, read_bytes - got))
            assert data, "EOF before the client meant to abort"
            got += len(data)
        if i % 2:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def test_aborted_downloads_leak_nothing(launch, tree):
    """100 clients drop out of a 64 MiB download: afterwards the daemon serves
    byte-exact, its fds return to the idle level and RSS grows < 8 MiB."""
    root, files = tree
    # A pool of one step (8 MiB), present from the start: a larger one grows
    # with the downloads in flight up to --buffer-memory, by design, and that
    # growth is not what this test looks for.
    # --hot-cache 0: a file asked for again is pinned, with a descriptor of
    # its own, by design (test_hot_cache.py checks what pins hold).
    ferry = launch(root=root, args=["--buffer-memory", "8M", "--hot-cache", "0"])
    digest = sha256(files["/big.bin"])

    def full_download():
        with ferry.connect(30) as sock:
            sock.sendall(build_request("/big.bin", close=True))
            resp = read_response(Reader(sock))
        assert resp.status == 200 and sha256(resp.body) == digest

    full_download()
    idle_fds = worker_fds(ferry)
    abort_downloads(ferry, 10, "/big.bin", 300_000)  # warm-up
    full_download()
    wait_until(lambda: worker_fds(ferry) <= idle_fds, 10, message="fds back to idle (warm-up)")
    rss_before = ferry.rss_kib()

    abort_downloads(ferry, 100, "/big.bin", 300_000)
    full_download()
    wait_until(lambda: worker_fds(ferry) <= idle_fds, 10,
               message=f"worker fds back to {idle_fds} (now {worker_fds(ferry)})")
    rss_after = ferry.rss_kib()
    if sanitized():
        return  # ASan holds freed memory in quarantine; LeakSanitizer checks at exit
    assert rss_after - rss_before < 8 * 1024, (
        f"RSS grew from {rss_before} KiB to {rss_after} KiB")


def test_file_shrinks_during_download(launch, tree, tmp_path):
    """The file is truncated to a quarter while a slow client reads it: the
    client gets fewer bytes than Content-Length (all of them correct) and a
    closed connection; the daemon keeps serving."""
    root, files = tree
    data = write_random(root / "shrink.bin", BIG)
    ferry = launch(root=root)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.settimeout(20)
    sock.connect((ferry.host, ferry.port))
    try:
        sock.sendall(build_request("/shrink.bin"))
        reader = Reader(sock)
        head = reader.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"\r\nContent-Length: %d\r\n" % BIG in head or \
            b"\r\ncontent-length: %d\r\n" % BIG in head.lower()
        body = bytearray(reader.read_exact(MIB))
        os.truncate(root / "shrink.bin", BIG // 4)
        # Slow client: small reads. The daemon must abort, not pad or hang.
        while True:
            try:
                chunk = sock.recv(64 * 1024)
            except ConnectionResetError:
                break
            if not chunk:
                break
            body += chunk
        assert len(body) < BIG, "received the full Content-Length of a shrunken file"
        assert bytes(body) == data[:len(body)], "bytes differ from the file's content"
    finally:
        sock.close()
    resp = ferry.get("/shrink.bin", timeout=20)
    assert resp.status == 200 and resp.body == data[:BIG // 4]
    assert ferry.get("/s100k.bin").body == files["/s100k.bin"]


def test_idle_timeout(launch, tree):
    """--idle-timeout 1s: an idle keep-alive connection is closed after ~1 s."""
    root, _ = tree
    ferry = launch(root=root, args=["--idle-timeout", "1s"])
    with ferry.connect() as sock:
        sock.sendall(build_request("/hello.txt"))
        reader = Reader(sock)
        assert read_response(reader).body == HELLO
        start = time.monotonic()
        assert reader.at_eof(6.0), "idle connection not closed within 6 s"
        elapsed = time.monotonic() - start
    assert 0.5 <= elapsed <= 5.0, f"closed after {elapsed:.2f}s"


def test_idle_timeout_spares_slow_reader(launch, tree):
    """--idle-timeout 1s does not cut a download that is progressing slowly
    (~3 s for 64 MiB, reads paced)."""
    root, files = tree
    ferry = launch(root=root, args=["--idle-timeout", "1s"])
    with ferry.connect(10) as sock:
        sock.sendall(build_request("/big.bin"))
        reader = Reader(sock)
        head = reader.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        body = bytearray()
        start = time.monotonic()
        while len(body) < BIG:
            chunk = reader.read_exact(min(2 * MIB, BIG - len(body)), allow_short=True)
            assert chunk, f"closed after {len(body)} bytes"
            body += chunk
            # Pace to ~3 s in total so the transfer outlives the idle timeout.
            target = start + 3.0 * len(body) / BIG
            time.sleep(max(0.0, target - time.monotonic()))
        assert sha256(bytes(body)) == sha256(files["/big.bin"])


def test_header_timeout_half_request_line(launch, tree):
    """--header-timeout 1s: half a request line, then silence: closed (408 or nothing)."""
    root, _ = tree
    ferry = launch(root=root, args=["--header-timeout", "1s"])
    with ferry.connect() as sock:
        sock.sendall(b"GET /hel")
        start = time.monotonic()
        sock.settimeout(6.0)
        data = Reader(sock)
        try:
            rest = data.read_to_eof()
        except (socket.timeout, TimeoutError):
            pytest.fail("half-request connection not closed within 6 s")
        elapsed = time.monotonic() - start
    assert rest == b"" or rest.startswith(b"HTTP/1.1 408"), rest[:100]
    assert 0.5 <= elapsed <= 5.0, f"closed after {elapsed:.2f}s"


def test_header_timeout_slowloris(launch, tree):
    """--header-timeout 1s: a header trickled a byte every 0.2 s is cut off
    (the header timer is not reset by each byte)."""
    root, _ = tree
    ferry = launch(root=root, args=["--header-timeout", "1s", "--idle-timeout", "30s"])
    with ferry.connect() as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        start = time.monotonic()
        closed = False
        while time.monotonic() - start < 6.0:
            try:
                sock.sendall(b"a")
            except OSError:
                closed = True
                break
            sock.settimeout(0.2)
            try:
                data = sock.recv(4096)
                if not data or data.startswith(b"HTTP/1.1 408"):
                    closed = True
                    break
            except (socket.timeout, TimeoutError):
                pass
            except OSError:
                closed = True
                break
        elapsed = time.monotonic() - start
    assert closed, "slowloris connection survived 6 s"
    assert elapsed <= 5.0, f"closed only after {elapsed:.2f}s"


def test_connection_limit_503(launch, tree):
    """--max-connections 5: the 6th concurrent connection gets 503; after one
    closes, new connections are served again."""
    root, _ = tree
    ferry = launch(root=root, args=["--max-connections", "5"])
    held = []
    try:
        for _ in range(5):
            sock = ferry.connect()
            sock.sendall(build_request("/hello.txt"))
            assert read_response(Reader(sock)).body == HELLO
            held.append(sock)
        with ferry.connect() as extra:
            try:
                extra.sendall(build_request("/hello.txt"))
                resp = read_response(Reader(extra))
            except (EOFError, ConnectionResetError) as exc:
                pytest.fail(f"6th connection got no 503: {exc}")
        assert resp.status == 503
        held.pop().close()

        def served():
            try:
                return ferry.get("/hello.txt", timeout=2).status == 200
            except (EOFError, OSError):
                return False
        wait_until(served, 5.0, interval=0.1, message="a slot to free up")
    finally:
        for sock in held:
            sock.close()


def test_sigterm_lets_download_finish(launch, tree):
    """SIGTERM during a 64 MiB download: the download completes byte-exact and
    ferryd exits 0 (--shutdown-timeout 10s)."""
    root, files = tree
    ferry = launch(root=root, args=["--shutdown-timeout", "10s"])
    with ferry.connect(20) as sock:
        sock.sendall(build_request("/big.bin"))
        reader = Reader(sock)
        head = reader.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        body = reader.read_exact(4 * MIB)
        os.kill(ferry.pid, signal.SIGTERM)
        body += reader.read_exact(BIG - len(body), allow_short=True)
        assert len(body) == BIG, f"download cut at {len(body)} bytes by SIGTERM"
        assert sha256(body) == sha256(files["/big.bin"])
        assert reader.at_eof(10.0), "connection not closed after the last response"
    counters = ferry.stop(sig=None, timeout=12.0)
    assert counters["requests"] >= 1


def test_curl_many_files_one_connection(server, tmp_path):
    """curl fetching five URLs reuses one connection (keep-alive) byte-exact."""
    import subprocess
    names = ["s1", "s4k", "s20k", "s100k", "m1"]
    args = []
    for n in names:
        args += ["-o", str(tmp_path / n), server.url(f"/{n}.bin")]
    res = subprocess.run(["curl", "-sS", "-v", *args], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    for n in names:
        assert file_sha256(tmp_path / n) == sha256(server.files[f"/{n}.bin"])
    assert res.stderr.count(b"Connected to") == 1 or b"Re-using existing connection" in res.stderr


def test_deep_pipeline(server):
    """300 pipelined requests sent at once before reading anything: the daemon
    must pace itself (stop reading while responses are queued) and answer all
    of them in order, byte-exact."""
    names = ["/s20k.bin", "/hello.txt", "/s100k.bin", "/s1.bin"]
    order = [names[i % 4] for i in range(300)]
    raw = b"".join(build_request(p) for p in order[:-1]) + build_request(order[-1], close=True)
    with server.connect(30) as sock:
        sender = threading.Thread(target=sock.sendall, args=(raw,))
        sender.start()
        reader = Reader(sock)
        for i, path in enumerate(order):
            resp = read_response(reader)
            assert resp.status == 200 and resp.body == server.files[path], (i, path)
        sender.join(10)
        assert reader.at_eof(5.0)


def test_backpressure_small_buffer_pool(launch, tree):
    """--buffer-memory 2M (8 blocks of 256 KiB) and --queue-depth 4: 40 clients
    downloading 4 MiB at once all wait their turn for blocks and finish byte-exact."""
    root, files = tree
    raise_nofile_limit()
    ferry = launch(root=root, args=["--buffer-memory", "2M", "--queue-depth", "4"])
    clients = open_clients(ferry, 40)
    try:
        for round_no in range(2):
            failures = run_round(clients, lambda i: "/m4.bin" if (i + round_no) % 2
                                 else "/m1.bin", files, timeout=60)
            assert not failures, failures[:5]
    finally:
        close_clients(clients)
    assert ferry.get("/hello.txt").body == HELLO


def test_send_timeout_drops_stalled_reader(launch, tree):
    """--send-timeout 1s: a client that stops reading a 64 MiB download is
    disconnected (its fd closed in the worker) within a few seconds."""
    root, _ = tree
    ferry = launch(root=root, args=["--send-timeout", "1s"])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect((ferry.host, ferry.port))
    try:
        # The server's last progress comes after the request, so the drop
        # cannot come sooner than --send-timeout after this moment.
        sent = time.monotonic()
        sock.sendall(build_request("/big.bin"))
        inode = wait_until(lambda: server_socket_inode(ferry.port, sock), 5,
                           message="the server side of the connection")
        wait_until(lambda: holds_socket(ferry.worker_pids(), inode), 5,
                   message="the connection in the worker")
        wait_until(lambda: not holds_socket(ferry.worker_pids(), inode), 8,
                   message="the stalled connection to be dropped")
        assert time.monotonic() - sent >= 0.95, "dropped before the send timeout"
        sock.settimeout(10)
        got = 0
        while True:
            try:
                data = sock.recv(1 << 20)
            except ConnectionResetError:
                break
            if not data:
                break
            got += len(data)
        assert got < BIG, "the whole file arrived although the client stalled"
    finally:
        sock.close()
    assert ferry.get("/hello.txt").body == HELLO


def test_fd_reuse_storm(server):
    """While 400 connections are opened, sent a request and reset (so fd
    numbers are reused with signals still queued), a keep-alive client's 200
    requests all come back correct."""
    stop = threading.Event()
    errors = []

    def storm():
        try:
            for i in range(400):
                if stop.is_set():
                    return
                sock = server.connect(5)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                if i % 3:
                    sock.sendall(build_request("/big.bin" if i % 2 else "/s100k.bin"))
                sock.close()
        except Exception as exc:  # reported by the main thread
            errors.append(repr(exc))

    thread = threading.Thread(target=storm)
    thread.start()
    try:
        names = ["/s1.bin", "/s4k.bin", "/s20k.bin", "/hello.txt"]
        with server.connect(10) as sock:
            reader = Reader(sock)
            for i in range(200):
                path = names[i % 4]
                sock.sendall(build_request(path))
                resp = read_response(reader)
                assert resp.status == 200 and resp.body == server.files[path], (i, path)
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert sha256(server.get("/big.bin", timeout=30).body) == sha256(server.files["/big.bin"])


def test_a_stream_yields_its_turn(launch, tree):
    """A fast reader of a 64 MiB file is sent at most a turn's budget
    (256 KiB) before the loop serves the others: the download stays
    byte-exact across the pauses, and small requests made meanwhile are
    answered."""
    root, files = tree
    ferry = launch(root=root)  # one worker
    result = {}

    def download():
        with ferry.connect() as sock:
            sock.sendall(build_request("/big.bin", close=True))
            result["body"] = read_response(Reader(sock)).body

    thread = threading.Thread(target=download)
    thread.start()
    try:
        for _ in range(20):
            assert ferry.get("/hello.txt").body == HELLO
    finally:
        thread.join(60)
    assert sha256(result["body"]) == sha256(files["/big.bin"])
    counters = ferry.stop()
    assert counters["turns_yielded"] > 0, counters
