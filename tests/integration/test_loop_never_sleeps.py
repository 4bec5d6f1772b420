"""The loop never sleeps (issue 13): the strictest check of the mission.

The strace audit (test_no_blocking.py) proves that no loop thread makes a
disk-touching system call. It cannot see waits inside allowed calls
(io_submit waiting for a block-layer request tag or an extent tree) or
inside page faults (the binary's own text after drop_caches). The kernel
can: every sched_switch of a loop thread whose previous state is
uninterruptible (D) is such a wait; and with --mlock a loop thread takes
no page fault at all (any fault may wait for the mmap_lock). This test records them, with their
kernel stacks, in a private tracefs instance while two workers serve a cold
mix right after drop_caches, with fio keeping the same disk busy, and
while they serve a file system mounted just now, over plain HTTP and TLS.
Allowed:
zero. It never skips on the CI machine: it mounts tracefs itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from harness import (INDEX_HTML, Reader, build_request, ensure_tracefs, free_port,
                     make_certificates, read_response, sanitized, thread_names,
                     tls_args, wait_until, write_random)

pytestmark = pytest.mark.design_rule

MIB = 1 << 20


def drop_caches():
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def fragmented(path: Path, extents: int) -> bytes:
    """Every other 4 KiB block written: `extents` extents, an on-disk tree."""
    block = os.urandom(4096)
    data = bytearray(2 * extents * 4096)
    with open(path, "wb") as f:
        for i in range(extents):
            f.seek(2 * i * 4096)
            f.write(block)
            data[2 * i * 4096:(2 * i + 1) * 4096] = block
        f.truncate(len(data))
    return bytes(data)


class DiskLoad:
    """fio: random O_DIRECT 4 KiB reads at depth 32 on the test's disk."""

    def __init__(self, directory: Path, seconds: int):
        self.file = directory / "fio.dat"
        self.proc = subprocess.Popen(
            ["fio", "--name=busy", f"--filename={self.file}", "--size=256M",
             "--rw=randread", "--bs=4k", "--direct=1", "--ioengine=libaio",
             "--iodepth=32", "--time_based", f"--runtime={seconds}",
             "--output-format=terse"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return out


def scrape(port: int) -> str:
    """The metrics page."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        return Reader(s).read_to_eof().decode()


def loop_histogram(port: int) -> dict[float, int]:
    """le (seconds) -> cumulative count of the all-workers loop histogram."""
    text = scrape(port)
    buckets = {}
    for m in re.finditer(r'^ferry_loop_iteration_seconds_bucket\{le="([^"]+)"\} (\d+)$',
                         text, re.M):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets[le] = int(m.group(2))
    assert buckets, f"no loop histogram in the metrics:\n{text[:2000]}"
    return buckets


def quantile_bound(before: dict[float, int], after: dict[float, int],
                   q: float) -> tuple[float, int]:
    """The smallest bucket bound under which fraction `q` of the iterations
    between the two scrapes fell, and how many iterations there were."""
    bounds = sorted(after)
    total = after[float("inf")] - before.get(float("inf"), 0)
    for le in bounds:
        if after[le] - before.get(le, 0) >= q * total:
            return le, total
    return float("inf"), total


def loop_threads(ferry, workers: int, metrics: int) -> list[int]:
    """The loop threads' ids, once all `workers` accept (every thread beside
    a loop has its own name by then)."""
    wait_until(lambda: re.search(rf"^ferry_accepting {workers}$", scrape(metrics), re.M),
               10, message=f"{workers} workers accepting")
    tids = [tid for pid in ferry.worker_pids() for tid, comm in thread_names(pid).items()
            if comm == "ferry-worker"]
    assert len(tids) >= workers, tids
    return tids


# What a loop thread does when it maps or unmaps memory; under a sanitizer
# its allocator does so on every thread, and mlock() is a no-op.
MEMORY_MAP_CALLS = ("=> asm_exc_page_fault", "=> vm_mmap_pgoff", "=> __vm_munmap",
                    "=> __do_sys_brk", "=> do_mprotect_pkey", "=> do_madvise")


class LoopTrace:
    """A private tracefs instance that records, for the loop threads only,
    every switch away with its kernel stack, every user page fault and every
    blocking take of the process's mmap_lock (which waits for any other
    thread holding it)."""

    EVENTS = ("sched/sched_switch", "exceptions/page_fault_user",
              "mmap_lock/mmap_lock_start_locking")

    def __init__(self, tracing: Path, loop_tids: list[int], name: str):
        self.instance = tracing / "instances" / f"ferry-{name}-{os.getpid()}"
        self.instance.mkdir()
        self.text = ""
        (self.instance / "buffer_size_kb").write_text("8192")
        for event in self.EVENTS:
            field = "prev_pid" if event == "sched/sched_switch" else "common_pid"
            assert (self.instance / "events" / event).is_dir(), f"no {event} event"
            (self.instance / "events" / event / "filter").write_text(
                " || ".join(f"{field} == {tid}" for tid in loop_tids))
        (self.instance / "options/stacktrace").write_text("1")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._enable("0")
        self.instance.rmdir()

    def _enable(self, value: str):
        for event in self.EVENTS:
            (self.instance / "events" / event / "enable").write_text(value)

    def start(self):
        self._enable("1")

    def stop(self) -> str:
        self._enable("0")
        self.text = (self.instance / "trace").read_text()
        assert "sched_switch:" in self.text, "no switch of a loop thread was traced"
        return self.text

    def sleeps(self) -> list[str]:
        """The uninterruptible sleeps, each with its stack. Under a sanitizer
        a wait inside a memory-map change or a page fault is the runtime's,
        not ferry's: not judged there."""
        switches = re.split(r"\n(?=[^\n]*sched_switch:)", self.text)
        found = [s for s in switches if re.search(r"prev_state=D", s.split("\n", 1)[0])]
        if sanitized():
            found = [s for s in found if not any(call in s for call in MEMORY_MAP_CALLS)]
        return found

    def assert_never_slept(self):
        sleeps = self.sleeps()
        assert not sleeps, (
            f"loop threads slept uninterruptibly {len(sleeps)} times; the first "
            "ones with their kernel stacks:\n" + "\n\n".join(s[:1500] for s in sleeps[:6]))

    def events(self, name: str) -> list[str]:
        """The `name` events, each with its stack."""
        blocks = re.split(r"\n(?=\s*\S+-\d+\s+\[\d+\][^\n]*: \w+:)", self.text)
        return [b for b in blocks if re.search(rf": {name}:", b.split("\n", 1)[0])]


def test_no_loop_thread_ever_sleeps_uninterruptibly(launch, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("needs root (tracefs, drop_caches): run the suite as root")
    assert shutil.which("fio"), "fio is not installed (README's first command)"
    tracing = ensure_tracefs()
    fstype = subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)],
                            capture_output=True, text=True).stdout.strip()
    assert fstype == "ext2/ext3", f"{tmp_path} is on {fstype}, not ext4"

    root = tmp_path / "root"
    (root / "a" / "b" / "c" / "d").mkdir(parents=True)
    (root / "dir").mkdir()
    (root / "dir" / "index.html").write_bytes(INDEX_HTML)
    files: dict[str, bytes] = {}
    for i in range(3):
        files[f"/large{i}.bin"] = write_random(root / f"large{i}.bin", 24 * MIB + i * 4099)
    files["/fragmented.bin"] = fragmented(root / "fragmented.bin", 1024)
    for i in range(16):
        rel = f"a/b/c/d/small{i}.txt" if i % 2 else f"small{i}.txt"
        files["/" + rel] = write_random(root / rel, 1000 + i * 3001)
    os.sync()

    metrics = free_port()
    # SCHED_FIFO: on two cores shared with eight client threads, fio and the
    # helpers, CFS preempts the loop for milliseconds at a time; the loop
    # histogram would measure the test's own load, not ferry's work. (With
    # nice -10 instead: 4-6 of ~3,000 iterations over 1 ms, no D sleep.)
    ferry = launch(root=root, workers=2, wrapper=["chrt", "-f", "10"],
                   args=["--mlock", "--metrics-listen", f"127.0.0.1:{metrics}"])
    loop_tids = loop_threads(ferry, 2, metrics)

    load = None
    failures: list[str] = []
    with LoopTrace(tracing, loop_tids, "never-sleeps") as trace:
        try:
            load = DiskLoad(tmp_path, 120)
            wait_until(lambda: load.file.exists() and load.file.stat().st_size >= 256 * MIB,
                       60, message="fio's file")
            drop_caches()
            before = loop_histogram(metrics)
            trace.start()
            threads = [threading.Thread(target=serve_mix, args=(ferry, files, k, failures))
                       for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(180)
            trace.stop()
            after = loop_histogram(metrics)
        finally:
            if load:
                load.stop()
    assert not failures, "\n".join(failures[:20])
    trace.assert_never_slept()
    if not sanitized():
        # Any page fault may wait for the mmap_lock, which another thread of
        # the worker takes for writing whenever it maps or unmaps memory (a
        # helper's first malloc makes its arena): one such wait failed CI.
        # With --mlock (and CAP_IPC_LOCK) the loop takes none at all.
        faults = trace.events("page_fault_user")
        assert not faults, (
            f"loop threads took {len(faults)} page faults under --mlock; the "
            "first ones:\n" + "\n".join(f[:600] for f in faults[:10]))
        # Nor does it take the mmap_lock itself (a brk, an mmap): each take
        # waits for whichever thread holds it (a CI run under ThreadSanitizer
        # saw the loop wait in vm_mmap_pgoff). --mlock keeps a heap reserve.
        takes = trace.events("mmap_lock_start_locking")
        assert not takes, (
            f"loop threads took the mmap_lock {len(takes)} times under --mlock; "
            "the first ones:\n" + "\n\n".join(t[:900] for t in takes[:6]))
    p99, total = quantile_bound(before, after, 0.99)
    p999, _ = quantile_bound(before, after, 0.999)
    assert total > 1000, f"only {total} loop iterations during the mix"
    if sanitized():
        print(f"p99.9 of loop iterations {p999} s under a sanitizer: not judged")
        return
    # The waits themselves are judged above, exactly. Iteration times are
    # a speed figure on a shared 2-core machine (two local CI runs had 4
    # and 5 of ~3,250 iterations between 1 and 10 ms, no sleep traced):
    # 99% within 1 ms, 99.9% within 5 ms.
    assert p99 <= 0.001 and p999 <= 0.005, (
        f"p99 {p99} s / p99.9 {p999} s of {total} loop iterations: "
        f"{before} -> {after}")


def test_first_read_on_a_file_system_mounted_just_now(launch, tmp_path):
    """A file system's first asynchronous direct read makes its completion
    workqueue, and io_submit waits there for a new kernel thread (seen on a
    fresh boot). Served from an ext4 mounted just now, no loop thread
    sleeps: a helper made that first read."""
    if os.geteuid() != 0:
        pytest.fail("needs root (losetup, mount, tracefs): run the suite as root")
    for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
        assert shutil.which(tool), f"{tool} is not installed"
    tracing = ensure_tracefs()
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(64 * MIB)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    device = None
    mounted = False
    ferry = None
    try:
        device = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                                capture_output=True, text=True).stdout.strip()
        subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                        device], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "noatime", device, str(mnt)], check=True,
                       capture_output=True)
        mounted = True
        os.chmod(mnt, 0o755)
        files = {f"/file{i}.bin": write_random(mnt / f"file{i}.bin", MIB + i * 4099)
                 for i in range(4)}
        os.sync()
        metrics = free_port()
        certs = make_certificates(tmp_path / "certs")
        tls_port = free_port()
        ferry = launch(root=mnt, workers=2,
                       args=["--mlock", "--file-cache", "0",
                             "--metrics-listen", f"127.0.0.1:{metrics}",
                             *tls_args(tls_port, certs)])
        tls = ssl.create_default_context(cafile=str(certs["ca"]))
        # Start-up (--mlock reads the binary in) is not serving: traced once
        # both loops accept.
        loop_tids = loop_threads(ferry, 2, metrics)
        with LoopTrace(tracing, loop_tids, "fresh-fs") as trace:
            trace.start()
            for _ in range(2):
                for path, data in files.items():
                    assert ferry.get(path, timeout=20).body == data, path
            # The same over TLS: handshakes, decryption and sealed records
            # on the same loops (the D-state test covers TLS).
            for path, data in files.items():
                plain = socket.create_connection(("127.0.0.1", tls_port), timeout=20)
                with tls.wrap_socket(plain, server_hostname="localhost") as sock:
                    sock.sendall(build_request(path, close=True))
                    response = read_response(Reader(sock))
                    assert response.status == 200 and response.body == data, path
            trace.stop()
        trace.assert_never_slept()
        ferry.stop()
    finally:
        if ferry is not None and ferry.alive():
            with contextlib.suppress(BaseException):
                ferry.stop()  # before the unmount, even when an assert failed
        if mounted:
            # A worker's last descriptors may close just after the master
            # exits; detach lazily rather than leave the mount behind.
            try:
                wait_until(lambda: subprocess.run(["umount", str(mnt)],
                                                  capture_output=True).returncode == 0,
                           10, interval=0.1, message="umount")
            except AssertionError:
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=60)
        if device:
            subprocess.run(["losetup", "-d", device], capture_output=True, timeout=60)


def serve_mix(ferry, files: dict[str, bytes], k: int, failures: list[str]):
    """One client's share of the cold mix; byte-exact or it says why."""
    paths = sorted(files)
    try:
        with ferry.connect(60) as sock:
            reader = Reader(sock)

            def ask(path, method="GET", headers=None):
                sock.sendall(build_request(path, method, headers))
                return read_response(reader, method)

            for i, path in enumerate(paths[k::4] + paths[:2]):
                resp = ask(path)
                if resp.status != 200 or resp.body != files[path]:
                    failures.append(f"{path}: {resp.status}, {len(resp.body)} bytes")
                    continue
                start = 777 + 4097 * (i + k)
                data = files[path]
                if start < len(data):
                    end = min(len(data) - 1, start + 300_000)
                    r = ask(path, headers={"Range": f"bytes={start}-{end}"})
                    if r.status != 206 or r.body != data[start:end + 1]:
                        failures.append(f"{path} {start}-{end}: {r.status}")
                head = ask(path, "HEAD")
                r = ask(path, headers={"If-None-Match": head.header("etag")})
                if r.status != 304:
                    failures.append(f"{path}: conditional gave {r.status}")
            for path in (f"/nope{k}", f"/a/b/nope{k}/x", "/a/b/c/d/none.txt"):
                if ask(path).status != 404:
                    failures.append(f"{path}: not 404")
            if ask("/dir/").body != INDEX_HTML or ask("/dir").status != 301:
                failures.append("directory index or redirect")
    except Exception as exc:  # noqa: BLE001 (reported with the rest)
        failures.append(f"client {k}: {exc!r}")



@contextlib.contextmanager
def memory_cgroup(name: str, limit: int):
    """A memory cgroup of its own with `limit` bytes (cgroup v2's memory.max,
    or v1's memory.limit_in_bytes beneath ours); yields (its cgroup.procs,
    a function returning how often the limit was hit)."""
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    if v2.exists():
        ours = Path("/proc/self/cgroup").read_text().split("::", 1)[1].strip()
        parent = Path("/sys/fs/cgroup") / ours.lstrip("/")
        if "memory" not in (parent / "cgroup.subtree_control").read_text():
            parent = Path("/sys/fs/cgroup")  # a child of the root always can
            (parent / "cgroup.subtree_control").write_text("+memory")
        group = parent / name
        group.mkdir()
        (group / "memory.max").write_text(str(limit))

        def pressure() -> int:
            events = (group / "memory.events").read_text()
            return int(re.search(r"^max (\d+)$", events, re.M).group(1))
    else:
        line = [entry for entry in Path("/proc/self/cgroup").read_text().splitlines()
                if entry.split(":")[1] == "memory"][0]
        group = Path("/sys/fs/cgroup/memory") / line.split(":", 2)[2].lstrip("/") / name
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(limit))

        def pressure() -> int:
            return int((group / "memory.failcnt").read_text())
    try:
        yield group / "cgroup.procs", pressure
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
        wait_until(lambda: not (group / "cgroup.procs").read_text().strip(), 10,
                   message="the cgroup's processes to exit")
        group.rmdir()


def test_hot_files_evicted_under_memory_pressure_never_put_the_loop_to_sleep(
        launch, tmp_path):
    """Four 24 MiB files asked for over and over, a hot budget that holds
    two, popularity moving between pairs: they are pinned, evicted and
    pinned again, inside a
    memory cgroup that a page-cache reader keeps at its limit (its pages
    reclaimed as fast as it reads). Pinned pages are locked, so reclaim
    cannot take them from under a sendfile(); evictions go through helpers.
    No loop thread sleeps uninterruptibly."""
    if os.geteuid() != 0:
        pytest.fail("needs root (cgroups, tracefs): run the suite as root")
    tracing = ensure_tracefs()
    root = tmp_path / "root"
    root.mkdir()
    files = {f"/hot{i}.bin": write_random(root / f"hot{i}.bin", 24 * MIB + i * 4099)
             for i in range(4)}
    pressure_file = tmp_path / "pressure.bin"
    with open(pressure_file, "wb") as f:
        f.truncate(2048 * MIB)  # read as zeroed pages into the page cache
    os.sync()
    metrics = free_port()
    with memory_cgroup(f"ferry-hot-{os.getpid()}", 256 * MIB) as (procs, pressure):
        enter = ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh"]
        ferry = launch(root=root, workers=2, wrapper=[*enter, "chrt", "-f", "10"],
                       args=["--mlock", "--hot-cache", "56M", "--file-cache", "0",
                             "--buffer-memory", "8M",
                             "--metrics-listen", f"127.0.0.1:{metrics}"])
        loop_tids = loop_threads(ferry, 2, metrics)
        reader = subprocess.Popen(
            [*enter, "sh", "-c", f"while :; do cat {pressure_file} > /dev/null; done"])
        failures: list[str] = []

        def client(k: int):
            try:
                with ferry.connect(60) as sock:
                    stream = Reader(sock)
                    # Popularity moves: hot0 and hot1, then hot2 and hot3
                    # asked for twice as often, then hot0 and hot1 again,
                    # more: each shift evicts the pair that was hot.
                    order = [0, 1] * 2 + [2, 3] * 4 + [0, 1] * 6
                    for n in order:
                        path = f"/hot{n ^ (k & 1)}.bin"
                        sock.sendall(build_request(path))
                        resp = read_response(stream)
                        if resp.status != 200 or resp.body != files[path]:
                            failures.append(f"{path}: {resp.status}, {len(resp.body)} bytes")
            except Exception as exc:  # noqa: BLE001 (reported with the rest)
                failures.append(f"client {k}: {exc!r}")

        try:
            wait_until(lambda: pressure() > 0, 30, message="the cgroup at its limit")
            with LoopTrace(tracing, loop_tids, "hot-pressure") as trace:
                trace.start()
                threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(180)
                trace.stop()
        finally:
            reader.kill()
            reader.wait()
        counters = ferry.stop()
        pressure_hits = pressure()
    assert not failures, "\n".join(failures[:20])
    print(f"hot pins {counters['hot_pins']}, unpins {counters['hot_unpins']}, "
          f"hits {counters['hot_hits']}, cgroup at its limit {pressure_hits} times")
    trace.assert_never_slept()
    # The churn happened: files were pinned, sent from their pins, let go.
    assert counters["hot_pins"] >= 4 and counters["hot_unpins"] >= 2, counters
    assert counters["hot_hits"] > 0, counters
