"""What operators see: the access log in its three formats, reopened by
SIGUSR1, a stuck log that drops instead of blocking, diagnostics with
journal priorities, and Prometheus metrics from the master."""

import json
import os
import re
import signal
import socket
import threading
import time
import urllib.request

import pytest

from harness import (HELLO, Reader, build_request, free_port, read_response,
                     wait_until)

CLF = re.compile(
    r'^(?P<client>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"(?P<request>(?:[^"\\]|\\x[0-9a-f]{2})*)" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?: "(?P<referer>(?:[^"\\]|\\x[0-9a-f]{2})*)" "(?P<agent>(?:[^"\\]|\\x[0-9a-f]{2})*)")?$')


def log_lines(path, count, timeout=10.0):
    """The first `count` lines of the log, once that many were written."""
    def ready():
        if not path.exists():
            return None
        lines = path.read_text(errors="replace").splitlines()
        return lines if len(lines) >= count else None
    return wait_until(ready, timeout, message=f"{count} lines in {path}")


def test_combined_log_lines_match_the_requests(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=["--access-log", str(log)])
    ferry.get("/hello.txt", headers={"Referer": "http://ref.test/",
                                     "User-Agent": 'agent "quoted"'})
    ferry.get("/missing")
    ferry.get("/hello.txt", method="HEAD")
    ferry.request(b"GET /\x7fbad HTTP/1.1\r\nHost: x\r\n\r\n")
    lines = log_lines(log, 4)
    parsed = [CLF.match(line) for line in lines]
    assert all(parsed), lines
    first, missing, head, bad = parsed
    assert first["client"] == "127.0.0.1"
    assert first["request"] == "GET /hello.txt HTTP/1.1"
    assert (first["status"], first["bytes"]) == ("200", str(len(HELLO)))
    assert first["referer"] == "http://ref.test/"
    assert first["agent"] == r"agent \x22quoted\x22"
    assert missing["status"] == "404"
    assert head["request"].startswith("HEAD ") and head["bytes"] == "-"
    assert bad["status"] == "400" and r"\x7f" in bad["request"]


def test_common_and_json_formats(launch, tmp_path):
    common = tmp_path / "common.log"
    ferry = launch(args=["--access-log", str(common),
                         "--access-log-format", "common"])
    ferry.get("/hello.txt")
    line = log_lines(common, 1)[0]
    match = CLF.match(line)
    assert match and match["agent"] is None, line

    as_json = tmp_path / "json.log"
    ferry = launch(args=["--access-log", str(as_json),
                         "--access-log-format", "json"])
    ferry.get("/hello.txt", headers={"User-Agent": "t\tab"})
    record = json.loads(log_lines(as_json, 1)[0])
    assert record["request"] == "GET /hello.txt HTTP/1.1"
    assert record["status"] == 200 and record["bytes"] == len(HELLO)
    assert record["client"] == "127.0.0.1"
    assert record["user_agent"] == "t\tab"


def test_sigusr1_reopens_the_log_for_logrotate(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=["--access-log", str(log)])
    ferry.get("/hello.txt")
    log_lines(log, 1)
    rotated = tmp_path / "access.log.1"
    os.rename(log, rotated)
    os.kill(ferry.pid, signal.SIGUSR1)
    wait_until(log.exists, 10, message="the log reopened under its name")
    ferry.get("/hello.txt?after")
    assert "after" in log_lines(log, 1)[0]
    assert len(rotated.read_text().splitlines()) == 1


def test_a_stuck_log_drops_records_and_never_blocks(launch, tmp_path):
    """The access log is a FIFO whose read end we hold and never read: once
    the pipe and the ring are full, records are dropped and counted, every
    request still succeeds, and shutdown does not hang on the writer."""
    fifo = tmp_path / "stuck.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        ferry = launch(args=["--access-log", str(fifo)])
        sock = ferry.connect()
        reader_ = Reader(sock)
        batch = build_request("/hello.txt") * 100
        started = time.monotonic()
        # 12,000 requests: more than can wait anywhere. The pipe holds
        # ~600 records, the log thread one drained ring (4096) while it
        # waits for the pipe, the ring another 4096: 8,000 could all fit.
        for _ in range(120):
            sock.sendall(batch)
            for _ in range(100):
                assert read_response(reader_).body == HELLO
        elapsed = time.monotonic() - started
        sock.close()
        counters = ferry.stop()
        assert counters["log_dropped"] > 0, counters
        assert counters["requests"] == 12000
        assert elapsed < 60, f"12000 requests took {elapsed:.1f}s"
    finally:
        os.close(reader)


def test_diagnostics_carry_journal_priorities(launch, tmp_path):
    """With JOURNAL_STREAM naming stderr, lines carry <N> prefixes."""
    stderr = tmp_path / "journal-stderr"
    # The harness writes stderr to a file it creates; point JOURNAL_STREAM
    # at that file by starting once to learn its name is impossible, so we
    # start ferryd ourselves with stderr on a file we made.
    import subprocess
    from harness import ferryd_path, make_default_tree
    root = make_default_tree(tmp_path / "tree")
    with open(stderr, "wb") as err:
        st = os.fstat(err.fileno())
        proc = subprocess.Popen(
            [ferryd_path(), "--root", str(root), "--listen", "127.0.0.1:0",
             "--workers", "1"], stderr=err, stdout=subprocess.DEVNULL,
            env={**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        try:
            wait_until(lambda: b"listening on" in stderr.read_bytes(), 10,
                       message="start-up")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
    lines = stderr.read_text().splitlines()
    assert lines and all(re.match(r"<[3-7]>", line) for line in lines), lines
    assert any(line.startswith("<5>listening on") for line in lines), lines


METRIC_LINE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})?'
    r' (?P<value>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\+Inf|-Inf|NaN))$')


def parse_prometheus(text: str) -> dict:
    """A strict reader of the text format: every line is a HELP, a TYPE or a
    sample; samples follow their family's TYPE; no family appears twice;
    histogram buckets are cumulative and end with +Inf equal to _count.
    Returns {(name, labels): value}."""
    assert text.endswith("\n")
    samples, types, families_done, current = {}, {}, set(), None
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            assert len(parts) >= 3, line
            name = parts[2]
            if line.startswith("# TYPE "):
                assert parts[3] in ("counter", "gauge", "histogram", "summary",
                                    "untyped"), line
                assert name not in types, f"TYPE twice: {name}"
                assert name not in families_done, f"{name} after its samples"
                types[name] = parts[3]
                if current:
                    families_done.add(current)
                current = name
            continue
        assert not line.startswith("#") and line, f"bad line {line!r}"
        match = METRIC_LINE.match(line)
        assert match, f"not a sample: {line!r}"
        name = match["name"]
        family = re.sub(r"_(bucket|sum|count)$", "", name) \
            if types.get(re.sub(r"_(bucket|sum|count)$", "", name)) == "histogram" \
            else name
        assert family == current, f"{name} outside its family {current}"
        key = (name, match["labels"] or "")
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(match["value"])
        if types[family] == "counter":
            assert name.endswith("_total") and samples[key] >= 0, line
    for family, kind in types.items():
        if kind != "histogram":
            continue
        groups = {}
        for (name, labels), value in samples.items():
            if name == family + "_bucket":
                other = re.sub(r',?le="[^"]*"', "", labels).strip(",")
                le = re.search(r'le="([^"]*)"', labels)[1]
                groups.setdefault(other, []).append((float(le), value))
        assert groups, family
        for other, buckets in groups.items():
            buckets.sort()
            values = [v for _, v in buckets]
            assert values == sorted(values), f"not cumulative: {buckets}"
            assert buckets[-1][0] == float("inf")
            assert samples[(family + "_count", other)] == values[-1]
    return samples


def test_metrics_parse_strictly_and_move_with_requests(launch):
    port = free_port()
    ferry = launch(args=["--metrics-listen", f"127.0.0.1:{port}"],
                   workers=2)
    url = f"http://127.0.0.1:{port}/metrics"
    before = parse_prometheus(urllib.request.urlopen(url, timeout=10).read().decode())
    for _ in range(7):
        assert ferry.get("/hello.txt").body == HELLO
    ferry.get("/missing")

    # A worker counts a response once sendmsg() returns, and the client can
    # have read it (and asked the next thing) a moment before that.
    def counted():
        now = parse_prometheus(urllib.request.urlopen(url, timeout=10).read().decode())
        done = sum(now[(f"ferry_responses_{c}_total", "")] -
                   before[(f"ferry_responses_{c}_total", "")] for c in ("2xx", "4xx"))
        return now if done >= 8 else None
    after = wait_until(counted, 10, message="8 responses counted")
    assert after[("ferry_requests_total", "")] - before[("ferry_requests_total", "")] == 8
    assert after[("ferry_responses_2xx_total", "")] - \
        before[("ferry_responses_2xx_total", "")] == 7
    assert after[("ferry_responses_4xx_total", "")] - \
        before[("ferry_responses_4xx_total", "")] == 1
    per_worker = sum(after[("ferry_requests_total", f'worker="{w}"')] for w in (0, 1))
    assert per_worker == after[("ferry_requests_total", "")]
    assert after[("ferry_bytes_sent_total", "")] > before[("ferry_bytes_sent_total", "")]
    assert after[("ferry_loop_iteration_seconds_count", "")] > 0
    # Never on the public listener.
    assert ferry.get("/metrics").status == 404


def scrape(port: int, timeout: float = 10.0) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    return urllib.request.urlopen(url, timeout=timeout).read().decode()


def raw_exchange(port: int, data: bytes) -> bytes:
    """Sends `data` and reads until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_metrics_port_accepts_once_listening_is_logged(launch):
    """"listening on" is said once every socket is bound: a script (or this
    harness) that waits for it can scrape at once. Each listen() is held up
    300 ms by strace, which on a binary that logged before binding the
    metrics port left a scrape refused."""
    port = free_port()
    launch(args=["--metrics-listen", f"127.0.0.1:{port}"],
           wrapper=["strace", "-qq", "-o", "/dev/null",
                    "-e", "inject=listen:delay_enter=300000"])
    assert "ferry_requests_total" in scrape(port, timeout=5)


def test_slow_metrics_scrapers_never_hold_the_master(launch):
    """The master answers scrapers from its own loop, so one that sends its
    request a byte at a time (which used to hold the master in recv() for as
    long as it kept going: no reaping, no SIGTERM, no watchdog pings) or
    never finishes it delays nobody, and is closed after two seconds."""
    port = free_port()
    ferry = launch(args=["--metrics-listen", f"127.0.0.1:{port}"])
    scrape(port)  # listening
    started = time.monotonic()
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(b"GET /met")
    trickling = socket.create_connection(("127.0.0.1", port))
    trickling.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
    trickler_closed_after = []

    def trickle():
        while time.monotonic() - started < 15:
            try:
                trickling.send(b"a")
            except OSError:
                trickler_closed_after.append(time.monotonic() - started)
                return
            time.sleep(0.1)  # the client's pace, not a synchronisation

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        text = scrape(port)
        answered_after = time.monotonic() - started
        assert "ferry_requests_total" in text
        stalled.settimeout(15)
        assert stalled.recv(1) == b"", "the stalled scraper got an answer"
        stalled_closed_after = time.monotonic() - started
    finally:
        thread.join()
        stalled.close()
        trickling.close()
    assert trickler_closed_after, "the trickling scraper was never closed"
    assert answered_after < 1.5, "a scrape waited for the slow ones"
    # Two seconds each from their accept, not sooner, not much later.
    assert 1.5 <= stalled_closed_after < 10
    assert 1.5 <= trickler_closed_after[0] < 10
    assert "ferry_requests_total" in scrape(port)
    ferry.stop()


def test_slow_scrapers_past_the_limit_do_not_starve_a_scraper(launch):
    """16 clients that connect and send nothing hold every place: a 17th
    closes the one idle longest and is answered at once, not after their
    two seconds; a scraper reading its answer slowly goes after the ones
    without a request."""
    port = free_port()
    launch(args=["--metrics-listen", f"127.0.0.1:{port}"])
    scrape(port)  # listening
    stalled = []
    try:
        # Accepted in the order they connect: the first is the idlest.
        for _ in range(16):
            stalled.append(socket.create_connection(("127.0.0.1", port)))
        started = time.monotonic()
        assert "ferry_requests_total" in scrape(port, timeout=1.5)
        assert time.monotonic() - started < 1.0
        # The oldest silent one was closed to make room; the newest was not.
        stalled[0].settimeout(5)
        assert stalled[0].recv(1) == b""
        stalled[-1].setblocking(False)
        with pytest.raises(BlockingIOError):
            stalled[-1].recv(1)
    finally:
        for s in stalled:
            s.close()


def test_metrics_refuse_clients_outside_the_allow_list(launch):
    """--metrics-allow names who may scrape: anyone else gets 403 and is
    closed; the default is the local host only, any allows all."""
    port = free_port()
    ferry = launch(args=["--metrics-listen", f"127.0.0.1:{port}",
                         "--metrics-allow", "192.0.2.0/24,::1"])
    answer = raw_exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]
    assert b"ferry_requests_total" not in answer
    ferry.stop()
    port = free_port()
    launch(args=["--metrics-listen", f"127.0.0.1:{port}",
                 "--metrics-allow", "10.0.0.0/8,127.0.0.1/32"])
    assert "ferry_requests_total" in scrape(port)


def test_metrics_answer_bad_scrapes_precisely(launch):
    port = free_port()
    launch(args=["--metrics-listen", f"127.0.0.1:{port}"])
    scrape(port)  # listening
    assert raw_exchange(port, b"POST /metrics HTTP/1.1\r\n\r\n").startswith(
        b"HTTP/1.1 405 ")
    assert raw_exchange(port, b"GET /" + b"a" * 9000).startswith(
        b"HTTP/1.1 431 ")
    head = raw_exchange(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert head.endswith(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head)[1])
    assert length > 0
