"""--hot-cache: a large file asked for again is pinned in the page cache,
once for all workers, and sent with sendfile(); a file asked for once is
read with O_DIRECT and leaves nothing behind; the budget holds for the whole
daemon; a file changed on disk is never served stale; a file truncated
while it is sent ends that response early.

Residency is read with fincore(1) (mincore over the file's pages), locked
memory from /proc (VmLck per worker, Mlocked for the machine)."""

import os
import re
import socket
import subprocess
import time

from harness import Reader, build_request, free_port, read_response, wait_until, write_random

MIB = 1 << 20
# Files over --block-size are "large": a small block keeps the test files small.
BLOCK = ["--block-size", "64K", "--buffer-memory", "4M"]


def scrape(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        return Reader(s).read_to_eof().decode()


def gauge(port: int, name: str) -> int:
    """A daemon-wide ferry_NAME value (the hot table's figures)."""
    m = re.search(rf"^ferry_{name} (\d+)$", scrape(port), re.M)
    assert m, f"no ferry_{name} in the metrics"
    return int(m.group(1))


def counter(port: int, name: str, worker: int | None = None) -> int:
    """A ferry_NAME_total value: all workers, or one."""
    label = "" if worker is None else f'\\{{worker="{worker}"\\}}'
    m = re.search(rf"^ferry_{name}_total{label} (\d+)$", scrape(port), re.M)
    assert m, f"no ferry_{name}_total{label} in the metrics"
    return int(m.group(1))


def resident_bytes(path) -> int:
    """Bytes of `path` in the page cache (fincore)."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES",
                          str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def evict(path):
    """Writes `path` back and drops it from the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    assert resident_bytes(path) == 0, f"{path} stayed in the page cache"


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        m = re.search(rf"^{field}:\s+(\d+) kB$", f.read(), re.M)
    return int(m.group(1))


def meminfo_kib(field: str) -> int:
    with open("/proc/meminfo") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB$", f.read(), re.M).group(1))


def start_slow_download(ferry, path: str) -> tuple[socket.socket, Reader]:
    """A GET of `path` by a client with a small receive buffer that reads
    only the head: the server stays in the middle of sending the body."""
    sock = ferry.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(build_request(path))
    reader = Reader(sock)
    head = reader.read_until(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0]
    return sock, reader


def start(launch, tmp_path, budget: str, workers: int = 1, window: str = "60s"):
    """ferryd on a root on disk (tmp_path is ext4 here, not tmpfs: residency
    means something), with metrics."""
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    port = free_port()
    ferry = launch(root=root, workers=workers,
                   args=[*BLOCK, "--hot-cache", budget, "--hot-cache-window", window,
                         "--metrics-listen", f"127.0.0.1:{port}"])
    return ferry, port


def test_a_file_asked_for_once_is_not_kept_and_asked_for_again_is(launch, tmp_path):
    ferry, port = start(launch, tmp_path, "64M")
    path = ferry.root / "release.iso"
    body = write_random(path, 8 * MIB + 123)
    evict(path)

    assert ferry.get("/release.iso").body == body
    # Streamed once: read with O_DIRECT, nothing left behind, nothing pinned.
    assert resident_bytes(path) == 0
    assert counter(port, "hot_pins") == 0
    reads_once = counter(port, "aio_reads")

    assert ferry.get("/release.iso").body == body  # asked for again: hot
    wait_until(lambda: counter(port, "hot_pins") == 1, 10,
               message="the hot file to be pinned")
    assert resident_bytes(path) == (len(body) + 4095) // 4096 * 4096
    (worker,) = ferry.worker_pids()
    assert status_kib(worker, "VmLck") * 1024 >= len(body)

    reads_before = counter(port, "aio_reads") + counter(port, "helper_reads")
    for _ in range(3):
        assert ferry.get("/release.iso").body == body
    ranged = ferry.get("/release.iso", headers={"Range": "bytes=100-5000000"})
    assert ranged.status == 206 and ranged.body == body[100:5000001]
    multi = ferry.get("/release.iso", headers={"Range": "bytes=0-9,-10"})
    assert multi.status == 206 and body[:10] in multi.body and body[-10:] in multi.body
    # Served from memory: no device read, every response a hot hit.
    assert counter(port, "aio_reads") + counter(port, "helper_reads") == reads_before
    assert counter(port, "hot_hits") == 5
    assert reads_once > 0
    # A HEAD or a conditional GET neither reads nor changes anything.
    assert ferry.get("/release.iso", method="HEAD").status == 200
    counters = ferry.stop()
    assert counters["aborted"] == 0, counters


def test_a_download_under_way_when_its_file_turns_hot_ends_from_memory(launch, tmp_path):
    """The first downloads of a popular file are still reading it from the
    disk when the file turns hot: the rest of each is sent from the pin."""
    ferry, port = start(launch, tmp_path, "64M")
    path = ferry.root / "popular.iso"
    body = write_random(path, 16 * MIB)
    slow, reader = start_slow_download(ferry, "/popular.iso")
    got = reader.read_exact(MIB)
    for _ in range(2):
        assert ferry.get("/popular.iso").body == body
    wait_until(lambda: counter(port, "hot_pins") == 1, 10, message="pinned")
    reads = counter(port, "aio_reads") + counter(port, "helper_reads")
    got += reader.read_exact(len(body) - MIB)
    slow.close()
    assert got == body
    assert counter(port, "hot_hits") == 1  # the slow download, switched
    # At most the read-ahead window already asked for came from the disk.
    assert counter(port, "aio_reads") + counter(port, "helper_reads") <= reads + 4


def test_a_download_split_into_ranges_is_one_download(launch, tmp_path):
    """aria2c fetches one file over four connections, a quarter each: one
    download, not four requests, so the file stays cold; a second whole
    download makes it hot."""
    ferry, port = start(launch, tmp_path, "64M")
    path = ferry.root / "image.iso"
    body = write_random(path, 8 * MIB)
    evict(path)
    out = tmp_path / "out"
    subprocess.run(["aria2c", "-q", "-x4", "-s4", "-k1M", "--file-allocation=none",
                    "-d", str(out), "-o", "image.iso", ferry.url("/image.iso")],
                   check=True, timeout=60)
    assert (out / "image.iso").read_bytes() == body
    assert gauge(port, "hot_admitted_total") == 0
    assert gauge(port, "hot_bytes") == 0
    assert resident_bytes(path) == 0
    assert ferry.get("/image.iso").body == body
    assert gauge(port, "hot_admitted_total") == 1
    assert gauge(port, "hot_bytes") == len(body)
    wait_until(lambda: counter(port, "hot_pins") == 1, 10, message="pinned")


def test_eviction_keeps_the_budget_and_popular_files_stay(launch, tmp_path):
    ferry, port = start(launch, tmp_path, "12M")
    files = {}
    for name in ("a", "b", "c", "d"):
        files[name] = write_random(ferry.root / f"{name}.bin", 5 * MIB)
        evict(ferry.root / f"{name}.bin")
    (worker,) = ferry.worker_pids()

    def locked_and_resident() -> tuple[int, int]:
        return (status_kib(worker, "VmLck") * 1024,
                sum(resident_bytes(ferry.root / f"{n}.bin") for n in files))

    def pinned(name: str, pins: int) -> bool:
        assert ferry.get(f"/{name}.bin").body == files[name]
        return counter(port, "hot_pins") == pins

    # a is asked for most; then b, c and d, each until it is pinned (a few
    # times: a pin waits for the previous one to go, at a tick): each new
    # one evicts the previous (asked for about as often, and older), never a.
    for _ in range(40):
        assert ferry.get("/a.bin").body == files["a"]
    wait_until(lambda: counter(port, "hot_pins") == 1, 10, message="a pinned")
    for pins, name in enumerate(("b", "c", "d"), start=2):
        wait_until(lambda: pinned(name, pins), 20, interval=0.25,
                   message=f"{name} pinned")
        locked, resident = locked_and_resident()
        assert gauge(port, "hot_bytes") <= 12 * MIB
        assert locked <= 12 * MIB, f"{locked} bytes locked, budget 12M"
        assert resident <= 12 * MIB, f"{resident} bytes cached, budget 12M"
    # b and c went, and their pages left the page cache with their pins.
    wait_until(lambda: resident_bytes(ferry.root / "b.bin") == 0
               and resident_bytes(ferry.root / "c.bin") == 0, 10,
               message="the evicted files' pages to be dropped")
    assert resident_bytes(ferry.root / "a.bin") == 5 * MIB
    assert resident_bytes(ferry.root / "d.bin") == 5 * MIB
    hits = counter(port, "hot_hits")
    assert ferry.get("/a.bin").body == files["a"]
    assert counter(port, "hot_hits") == hits + 1
    counters = ferry.stop()
    assert counters["hot_unpins"] == 2, counters


def test_two_workers_send_one_copy(launch, tmp_path):
    ferry, port = start(launch, tmp_path, "64M", workers=2)
    path = ferry.root / "popular.bin"
    body = write_random(path, 16 * MIB)
    evict(path)
    mlocked_before = meminfo_kib("Mlocked")

    def both_served_hot() -> bool:
        # Each connection lands on either worker (SO_REUSEPORT): go on until
        # both have sent the file from their pin.
        assert ferry.get("/popular.bin").body == body
        return all(counter(port, "hot_hits", w) > 0 for w in (0, 1))

    wait_until(both_served_hot, 60, interval=0, message="both workers to hit")
    workers = ferry.worker_pids()
    assert len(workers) == 2
    for pid in workers:
        assert status_kib(pid, "VmLck") * 1024 >= len(body)
    # Both lock the same page-cache pages: the machine locked one copy.
    mlocked = (meminfo_kib("Mlocked") - mlocked_before) * 1024
    assert 0.9 * len(body) <= mlocked < 1.5 * len(body), mlocked
    assert resident_bytes(path) == len(body)
    counters = ferry.stop()
    assert counters["hot_pins"] == 2, counters


def test_a_hot_file_changed_on_disk_is_served_new_at_once(launch, tmp_path):
    ferry, port = start(launch, tmp_path, "64M")
    path = ferry.root / "data.bin"
    old = write_random(path, 4 * MIB, seed=1)
    for _ in range(2):
        assert ferry.get("/data.bin").body == old
    wait_until(lambda: counter(port, "hot_pins") == 1, 10, message="pinned")
    assert ferry.get("/data.bin").body == old
    assert counter(port, "hot_hits") == 1

    # Rewritten in place (same inode, same size).
    new = write_random(path.with_suffix(".tmp"), 4 * MIB, seed=2)
    with open(path, "r+b") as f:
        f.write(new)
    assert ferry.get("/data.bin").body == new
    # Replaced by a rename, with another size.
    newer = write_random(path.with_suffix(".tmp"), 3 * MIB, seed=3)
    os.rename(path.with_suffix(".tmp"), path)
    assert ferry.get("/data.bin").body == newer
    # The old version's pin goes at the next tick (its file changed, then
    # was deleted); the new version is hot once asked for again.
    wait_until(lambda: counter(port, "hot_unpins") == 1, 10,
               message="the old version's pin to go")
    hits = counter(port, "hot_hits")

    def newer_sent_hot() -> bool:
        assert ferry.get("/data.bin").body == newer
        return counter(port, "hot_hits") > hits

    wait_until(newer_sent_hot, 20, interval=0.1, message="the new version hot")
    counters = ferry.stop()
    assert counters["hot_pins"] == 2 and counters["hot_unpins"] == 1, counters


def test_a_hot_file_truncated_while_it_is_sent_ends_the_response(launch, tmp_path):
    ferry, port = start(launch, tmp_path, "64M")
    path = ferry.root / "shrinks.bin"
    body = write_random(path, 32 * MIB)
    for _ in range(2):
        assert ferry.get("/shrinks.bin").body == body
    wait_until(lambda: counter(port, "hot_pins") == 1, 10, message="pinned")

    sock, reader = start_slow_download(ferry, "/shrinks.bin")
    got = reader.read_exact(MIB)
    assert got == body[:MIB]
    os.truncate(path, 2 * MIB)
    rest = reader.read_to_eof()  # the server ends the response: no hang
    assert MIB + len(rest) < len(body)
    assert got + rest == body[:MIB + len(rest)]
    sock.close()
    # The daemon serves on, the file as it is now.
    assert ferry.get("/shrinks.bin").body == body[:2 * MIB]
    counters = ferry.stop()
    assert counters["aborted"] == 1, counters


def test_with_the_cache_off_large_files_always_come_from_the_disk(launch, tmp_path):
    ferry, port = start(launch, tmp_path, "0")
    path = ferry.root / "big.bin"
    body = write_random(path, 4 * MIB)
    evict(path)
    for _ in range(4):
        assert ferry.get("/big.bin").body == body
    assert resident_bytes(path) == 0
    counters = ferry.stop()
    assert counters["hot_hits"] == 0 and counters["hot_pins"] == 0, counters

