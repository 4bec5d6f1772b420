"""A lean footprint (issue 16): a worker's buffer pool is made present as
its streams need it, a step at a time by a helper, up to --buffer-memory,
never all at start; the gauge ferry_buffer_bytes says how much is."""

from __future__ import annotations

import re
import socket

from harness import Reader, build_request, free_port, read_response, wait_until, write_random

MIB = 1 << 20


def buffer_bytes(port: int) -> int:
    """ferry_buffer_bytes of worker 0, from the master's metrics."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        text = Reader(s).read_to_eof().decode()
    match = re.search(r'^ferry_buffer_bytes\{worker="0"\} (\d+)$', text, re.M)
    assert match, f"no ferry_buffer_bytes for worker 0:\n{text[:2000]}"
    return int(match.group(1))


def stalled_streams(ferry, path: str, count: int) -> list[socket.socket]:
    """`count` connections that ask for `path` and read nothing: each holds
    its read-ahead window of blocks once its socket buffers are full."""
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(60)
        sock.connect((ferry.host, ferry.port))
        sock.sendall(build_request(path))
        socks.append(sock)
    return socks


def test_the_buffer_pool_grows_with_streams_up_to_buffer_memory(launch, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    files = {f"/f{i}.bin": write_random(root / f"f{i}.bin", 6 * MIB + i * 4097)
             for i in range(4)}
    metrics = free_port()
    ferry = launch(root=root, workers=1,
                   args=["--buffer-memory", "24M", "--block-size", "1M",
                         "--read-ahead", "2", "--file-cache", "0",
                         # The pool serves what is read from the disk; a
                         # hot file would be sent from its pin instead.
                         "--hot-cache", "0",
                         "--metrics-listen", f"127.0.0.1:{metrics}"])
    start = wait_until(lambda: buffer_bytes(metrics), 10, message="the worker serving")
    assert start == 8 * MIB, "a step of 8 MiB at start, not all 24"

    # One stream at a time needs two blocks: no growth.
    assert ferry.get("/f0.bin").body == files["/f0.bin"]
    assert buffer_bytes(metrics) == 8 * MIB

    # Twenty-four stalled streams hold a block each at least (a second one
    # only while nobody waits: twelve of them left the pool at 16 MiB in one
    # run of five, rightly): the pool grows, step by step, to its size and
    # no further; then every byte arrives.
    socks = stalled_streams(ferry, "/f1.bin", 24)
    try:
        wait_until(lambda: buffer_bytes(metrics) == 24 * MIB, 20,
                   message="the pool grown to --buffer-memory")
        for sock in socks:
            resp = read_response(Reader(sock))
            assert resp.status == 200 and resp.body == files["/f1.bin"]
    finally:
        for sock in socks:
            sock.close()
    assert buffer_bytes(metrics) == 24 * MIB
    ferry.stop()
