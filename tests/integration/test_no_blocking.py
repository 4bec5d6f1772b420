"""The worker loop never makes a call that can wait on a disk (DESIGN.md
difficulty 1), checked by running ferryd under `strace -f`.

Method: start ferryd under strace, learn which TIDs are which threads from
/proc/PID/task/*/comm while it runs, drop the page/dentry caches, serve cold
files, the same files again (cached), missing paths, ranges, a directory
index, precompressed variants (found, missing, stale) and the error page
answering the misses, stop it, and examine every syscall a "ferry-worker"
thread made after the first request was sent. The counters must show helper_opens > 0, i.e. the
cold lookups really went to the helpers (so the test cannot pass by luck).
The same audit runs over a TLS (--ssl) listener.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass

import pytest

from harness import (INDEX_HTML, ensure_tracefs, Reader, build_request, children_of, read_response,
                     free_port, make_certificates, thread_names, tls_args,
                     wait_until, write_random)

pytestmark = pytest.mark.design_rule

# Path-taking calls that may read directories or inodes from disk. The
# stat-like ones are fine with an empty path (AT_EMPTY_PATH on an open fd).
PATH_CALLS = {
    "open", "openat", "creat", "stat", "lstat", "newfstatat", "fstatat64", "statx",
    "access", "faccessat", "faccessat2", "readlink", "readlinkat", "statfs",
    "truncate", "chdir", "chroot", "mkdir", "mkdirat", "unlink", "unlinkat", "rmdir",
    "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
    "chmod", "fchmodat", "chown", "lchown", "fchownat", "utime", "utimes",
    "utimensat", "futimesat", "getxattr", "lgetxattr", "listxattr", "llistxattr",
    "setxattr", "lsetxattr", "execve", "execveat", "name_to_handle_at",
    "open_by_handle_at", "inotify_add_watch", "mknod", "mknodat", "mount",
}
ALWAYS_BAD = {"getdents", "getdents64", "fsync", "fdatasync", "sync", "syncfs",
              "sync_file_range", "readahead"}
# Calls whose first argument is an fd that must not be a regular file.
FILE_FD_CALLS = {"read", "pread64", "readv", "preadv", "preadv2", "write", "pwrite64",
                 "writev", "pwritev", "pwritev2", "fallocate", "ftruncate",
                 "fadvise64", "copy_file_range", "splice", "sendfile"}
OPENERS = {"open", "openat", "openat2", "creat", "open_by_handle_at"}
NON_FILE_MAKERS = {"socket", "accept", "accept4", "eventfd", "eventfd2", "signalfd",
                   "signalfd4", "epoll_create", "epoll_create1", "timerfd_create",
                   "memfd_create", "pidfd_open", "inotify_init1", "userfaultfd"}

LINE_RE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
CALL_RE = re.compile(r"^([a-z_0-9]+)\((.*)\)\s+=\s+(.*)$", re.S)
STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
FD_ANNOT_RE = re.compile(r"^(-?\d+)(?:<(.*)>)?$", re.S)


@dataclass
class Call:
    tid: int
    ts: float
    name: str
    args: str
    ret: str
    text: str


def parse_strace(path) -> list[Call]:
    """Complete calls from an `strace -f -ttt [-y]` log, unfinished/resumed
    pairs joined (timestamped at their start)."""
    pending: dict[int, tuple[float, str]] = {}
    calls = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE_RE.match(line.rstrip("\n"))
            if not m:
                continue
            tid, ts, rest = int(m.group(1)), float(m.group(2)), m.group(3)
            if rest.startswith(("---", "+++")):
                continue
            if rest.startswith("<..."):
                r = re.match(r"<\.\.\. ([a-z_0-9]+) resumed>\s?(.*)$", rest, re.S)
                if not r or tid not in pending:
                    continue
                ts, head = pending.pop(tid)
                rest = head + r.group(2)
            elif rest.endswith("<unfinished ...>"):
                pending[tid] = (ts, rest[:-len("<unfinished ...>")].rstrip())
                continue
            c = CALL_RE.match(rest)
            if not c:
                continue  # e.g. "exit_group(0) = ?" variants, killed calls
            calls.append(Call(tid, ts, c.group(1), c.group(2), c.group(3).strip(), rest))
    return calls


def split_args(args: str) -> list[str]:
    """Top-level comma split that respects quotes, brackets and <...> fd notes."""
    out, depth, cur, quote, esc = [], 0, [], False, False
    for ch in args:
        if quote:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur:
        out.append("".join(cur).strip())
    return out


def annotated_path(arg: str) -> tuple[int | None, str | None]:
    m = FD_ANNOT_RE.match(arg.strip())
    if not m:
        return None, None
    return int(m.group(1)), m.group(2)


def path_is_disk_file(path: str) -> bool:
    """Whether a strace -y fd note names a file on a filesystem."""
    if not path.startswith("/"):
        return False  # socket:[..], pipe:[..], anon_inode:[..], TCP:[..]
    return not path.startswith(("/dev/", "/proc/", "/sys/", "/memfd:"))


class FdTracker:
    """Which fds of which process are files, from opens and closes (used when
    strace printed no -y note)."""

    def __init__(self, tgid_of):
        self.tgid_of = tgid_of
        self.files: dict[int, set[int]] = defaultdict(set)

    def update(self, call: Call):
        table = self.files[self.tgid_of(call.tid)]
        m = re.match(r"-?\d+", call.ret)
        ret_fd = int(m.group(0)) if m else None
        if call.name in OPENERS and ret_fd is not None and ret_fd >= 0:
            table.add(ret_fd)
        elif call.name in NON_FILE_MAKERS and ret_fd is not None and ret_fd >= 0:
            table.discard(ret_fd)
        elif call.name in ("dup", "dup2", "dup3") and ret_fd is not None and ret_fd >= 0:
            src, _ = annotated_path(split_args(call.args)[0])
            (table.add if src in table else table.discard)(ret_fd)
        elif call.name == "close":
            fd, _ = annotated_path(split_args(call.args)[0])
            table.discard(fd)

    def is_file(self, call: Call, arg: str) -> bool:
        fd, path = annotated_path(arg)
        if path is not None:
            return path_is_disk_file(path)
        return fd in self.files[self.tgid_of(call.tid)]


def violation(call: Call, fds: FdTracker) -> str | None:
    """Why `call` may wait on a disk, or None."""
    args = split_args(call.args)
    if call.name in ALWAYS_BAD:
        return "may wait on the disk"
    if call.name == "openat2":
        return None if "RESOLVE_CACHED" in call.args else "openat2 without RESOLVE_CACHED"
    if call.name in PATH_CALLS:
        m = STRING_RE.search(call.args)
        if m and m.group(1) == "":
            return None
        return "path lookup on the loop"
    if call.name in FILE_FD_CALLS and args:
        if call.name == "preadv2" and "RWF_NOWAIT" in call.args:
            return None  # DESIGN.md: allowed on the loop for cached pages
        fd_arg = args[1] if call.name in ("splice", "sendfile", "copy_file_range") else args[0]
        if fds.is_file(call, fd_arg) or (call.name in ("splice", "copy_file_range")
                                         and fds.is_file(call, args[0])):
            return "I/O on a regular file"
    if call.name == "mmap" and len(args) >= 5 and "MAP_ANONYMOUS" not in args[3]:
        if fds.is_file(call, args[4]):
            return "file mapping (page faults block)"
    return None


@pytest.fixture
def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root to drop the page cache (run the suite as root)")
    try:
        drop_caches()
    except OSError as exc:
        pytest.skip(f"cannot drop caches here: {exc}")


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def snapshot_threads(master: int, known: dict[int, tuple[int, str]]):
    """Adds tid -> (tgid, comm) for the master and its workers to `known`."""
    from harness import children_of
    for pid in [master, *children_of(master)]:
        for tid, comm in thread_names(pid).items():
            known[tid] = (pid, comm)


def await_threads(ferry, known: dict[int, tuple[int, str]]):
    """Waits for ferry's worker loop and helper threads, noting all in `known`."""
    def have_threads():
        snapshot_threads(ferry.pid, known)
        names = [c for _, c in known.values()]
        return "ferry-worker" in names and "ferry-helper" in names
    wait_until(have_threads, 10, message="ferry-worker and ferry-helper threads "
               f"(seen: {sorted(set(c for _, c in known.values()))})")


class LoopAudit:
    """Fed a trace's calls in order: the ferry-worker (loop) calls made from
    `boundary` on that may wait on a disk."""

    def __init__(self, known: dict[int, tuple[int, str]], boundary: float):
        self.tgid_of = lambda tid: known.get(tid, (tid, ""))[0]
        self.fds = FdTracker(self.tgid_of)
        self.worker_tids = {tid for tid, (_, comm) in known.items()
                            if comm == "ferry-worker"}
        assert self.worker_tids
        self.boundary = boundary
        self.loop_calls = 0
        self.bad: list[str] = []

    def see(self, call: Call):
        self.fds.update(call)
        if call.tid not in self.worker_tids or call.ts < self.boundary:
            return
        self.loop_calls += 1
        why = violation(call, self.fds)
        if why:
            self.bad.append(f"tid {call.tid}: {why}: {call.text[:300]}")

    def check(self):
        assert self.loop_calls > 50, (
            f"only {self.loop_calls} syscalls by ferry-worker threads after the "
            "first request: is the loop thread named 'ferry-worker'?")
        assert not self.bad, (f"{len(self.bad)} forbidden calls on the worker "
                              "loop:\n" + "\n".join(self.bad[:40]))


def test_worker_loop_never_blocks_on_disk(require_root, launch, tmp_path):
    """Under strace, no ferry-worker thread makes a disk-touching syscall while
    serving cold/cached files, misses, ranges and a directory index; the cold
    lookups are visibly done by helpers (helper_opens > 0)."""
    check_parser(tmp_path)
    base = tmp_path / "nb"
    root = base / "root"
    (root / "deep" / "er").mkdir(parents=True)
    (root / "dir").mkdir()
    (root / "dir" / "index.html").write_bytes(INDEX_HTML)
    # Variants: each a lookup of its own after its original's.
    (root / "v").mkdir()
    app = write_random(root / "v" / "app.js", 30_000)
    app_br = write_random(root / "v" / "app.js.br", 9_000)
    plain = write_random(root / "v" / "plain.js", 20_000)  # no variant
    stale = write_random(root / "v" / "stale.js", 20_000)
    write_random(root / "v" / "stale.js.gz", 5_000)
    os.utime(root / "v" / "stale.js.gz", (1_000_000_000, 1_000_000_000))
    # The misses are answered with an error page: one more lookup each.
    (root / "e").mkdir()
    not_found = write_random(root / "e" / "404.html", 3_000)
    # A directory without an index: listed (--autoindex), read by a helper.
    (root / "list" / "sub").mkdir(parents=True)
    for i in range(300):
        (root / "list" / f"entry-{i:03}.txt").write_bytes(b"x" * i)
    files = {}
    for i in range(12):
        rel = f"f{i}.bin" if i % 3 else f"deep/er/f{i}.bin"
        files["/" + rel] = write_random(root / rel, 100_000 + i * 37_001)
    os.sync()
    trace = base / "strace.log"
    ferry = launch(root=root, wrapper=["strace", "-f", "-ttt", "-y", "-qq", "-s", "96",
                                       "-o", str(trace)],
                   args=["--helper-threads", "2", "--log-level", "info",
                         "--precompressed", "br,gzip", "--autoindex",
                         "--error-page", "404 /e/404.html"])

    known: dict[int, tuple[int, str]] = {}
    await_threads(ferry, known)

    drop_caches()
    boundary = time.time()
    paths = list(files)

    def fetch_all(conn_paths, extra=None):
        with ferry.connect(30) as sock:
            reader = Reader(sock)
            for p in conn_paths:
                sock.sendall(build_request(p, headers=extra))
                resp = read_response(reader)
                yield p, resp

    # Cold, then cached, on a keep-alive connection.
    for _ in range(2):
        for p, resp in fetch_all(paths):
            assert resp.status == 200 and resp.body == files[p], p
    # Misses (cold negative lookups first: caches dropped again).
    drop_caches()
    error_page_boundary = time.time()
    for p, resp in fetch_all(["/nope", "/deep/nope/x", "/deep/er/nope.bin", "/zz/yy"]):
        assert resp.status == 404 and resp.body == not_found, p
    # Ranges on cold files, unaligned.
    drop_caches()
    for p, resp in fetch_all(paths[:6], {"Range": "bytes=777-70000"}):
        assert resp.status == 206 and resp.body == files[p][777:70001], p
    for p, resp in fetch_all(paths[6:], {"Range": "bytes=1-5,-1000"}):
        assert resp.status == 206, p
    # Directory index, a redirect, HEAD and a 304.
    drop_caches()
    with ferry.connect(30) as sock:
        reader = Reader(sock)
        sock.sendall(build_request("/dir/") + build_request("/dir") +
                     build_request(paths[0], "HEAD"))
        assert read_response(reader).body == INDEX_HTML
        assert read_response(reader).status == 301
        head = read_response(reader, "HEAD")
        assert head.status == 200
        sock.sendall(build_request(paths[0], headers={"If-None-Match": head.header("etag")}))
        assert read_response(reader).status == 304

    # Cold variant lookups: the original, then app.js.br (found),
    # plain.js.br and plain.js.gz (missing), stale.js.gz (skipped).
    drop_caches()
    variant_boundary = time.time()
    accept = {"Accept-Encoding": "br, gzip"}
    for p, resp in fetch_all(["/v/app.js", "/v/plain.js", "/v/stale.js",
                              "/v/app.js"], accept):
        assert resp.status == 200, p
        expected = {"/v/app.js": app_br, "/v/plain.js": plain,
                    "/v/stale.js": stale}[p]
        assert resp.body == expected, p
        assert resp.header("vary") == "Accept-Encoding", p

    # A cold listing, HTML and JSON: getdents64 and a statx per entry.
    drop_caches()
    for p, resp in fetch_all(["/list/", "/list/?format=json&sort=size"]):
        assert resp.status == 200, p
        assert resp.body.count(b"entry-") >= 300, p

    snapshot_threads(ferry.pid, known)
    counters = ferry.stop()

    audit = LoopAudit(known, boundary)
    worker_tids = audit.worker_tids
    variant_opens = defaultdict(set)  # name -> {"loop", "helper"}
    error_page_opens = set()  # "loop", "helper"
    listing_reads = set()  # who called getdents64: "loop", "helper"
    for call in parse_strace(trace):
        audit.see(call)
        if call.name == "getdents64" and call.ts >= boundary:
            listing_reads.add("loop" if call.tid in worker_tids else "helper")
        m = STRING_RE.search(call.args) if call.name == "openat2" else None
        who = "loop" if call.tid in worker_tids else "helper"
        if m and call.ts >= variant_boundary and m.group(1).startswith("v/"):
            variant_opens[m.group(1)].add(who)
        if m and call.ts >= error_page_boundary and m.group(1) == "e/404.html":
            error_page_opens.add(who)
    audit.check()
    # The variant lookups happened under the trace, the cold ones by helpers
    # once the loop's RESOLVE_CACHED open said EAGAIN.
    for name in ("v/app.js.br", "v/plain.js.br", "v/plain.js.gz",
                 "v/stale.js.gz"):
        assert "loop" in variant_opens[name], (name, dict(variant_opens))
    assert any("helper" in who for name, who in variant_opens.items()
               if name.endswith((".br", ".gz"))), dict(variant_opens)
    # The error page was looked up the same way: the loop tried it
    # RESOLVE_CACHED, a helper opened it cold.
    assert error_page_opens == {"loop", "helper"}, error_page_opens
    # The listings were read, by helpers only (the loop's would be in `bad`).
    assert listing_reads == {"helper"}, listing_reads
    assert counters["helper_opens"] > 0, (
        f"no lookup went to a helper after dropping caches: {counters}")


def test_worker_never_waits_for_a_block_map(require_root, launch, tmp_path):
    """ext4 maps an O_DIRECT read's blocks inside io_submit() and, when the
    file's extent tree is not in memory, waits there for its blocks,
    RWF_NOWAIT or not. A helper loads the map before the first read, so the
    loop thread never sleeps in io_schedule() while it streams a badly
    fragmented file right after the caches were dropped. Seen from the
    kernel: every sched_switch of the loop thread, with its stack, in a
    private tracefs instance. (Only this wait: with the disk busy, io_submit
    can also sleep for a request tag, blk_mq_get_tag, which no flag of ours
    avoids.)"""
    fstype = subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)],
                            capture_output=True, text=True).stdout.strip()
    if fstype != "ext2/ext3":
        pytest.skip(f"{tmp_path} is on {fstype}, not ext4")
    instances = ensure_tracefs() / "instances"
    root = tmp_path / "root"
    root.mkdir()
    # Every other 4 KiB block written: 1,024 extents where the inode holds
    # four, so the rest is a tree of blocks on the disk.
    block, count = os.urandom(4096), 1024
    expected = bytearray(2 * count * 4096)
    for name in ("warm-up.bin", "fragmented.bin"):
        with open(root / name, "wb") as f:
            for i in range(count):
                f.seek(2 * i * 4096)
                f.write(block)
                expected[2 * i * 4096:(2 * i + 1) * 4096] = block
            f.truncate(len(expected))
    os.sync()
    mapping = subprocess.run(["filefrag", "-v", str(root / "fragmented.bin")],
                             capture_output=True, text=True).stdout
    assert len(re.findall(r"^\s*\d+:", mapping, re.M)) > 4, mapping[:2000]

    ferry = launch(root=root)
    # The streaming code runs once before the caches are dropped: dropping
    # them evicts the binary's pages that no process has mapped yet, and the
    # loop's first run of such code would wait for the disk in a page fault
    # (a cold start, not what this test is about).
    assert ferry.get("/warm-up.bin").body == expected
    loop_tids = [tid for pid in children_of(ferry.pid)
                 for tid, comm in thread_names(pid).items() if comm == "ferry-worker"]
    assert loop_tids
    instance = instances / f"ferry-test-{os.getpid()}"
    instance.mkdir()
    enable = instance / "events/sched/sched_switch/enable"
    try:
        (instance / "events/sched/sched_switch/filter").write_text(
            " || ".join(f"prev_pid == {tid}" for tid in loop_tids))
        (instance / "options/stacktrace").write_text("1")
        drop_caches()
        enable.write_text("1")
        body = ferry.get("/fragmented.bin").body
        enable.write_text("0")
        trace = (instance / "trace").read_text()
    finally:
        enable.write_text("0")
        instance.rmdir()
    counters = ferry.stop()
    assert body == expected
    assert "sched_switch:" in trace, "no switch of the loop thread was traced"
    # One entry per switch: its line, then its stack ("=> function" lines).
    switches = re.split(r"\n(?=[^\n]*sched_switch:)", trace)
    tree_waits = [s for s in switches
                  if "=> io_schedule" in s and "=> ext4_find_extent" in s]
    assert not tree_waits, (
        f"the loop thread waited {len(tree_waits)} times for ext4's extent "
        "tree:\n" + tree_waits[0][:2000])
    assert counters["block_maps"] >= 1, counters


def check_parser(tmp_path):
    """The parser joins unfinished/resumed pairs and classifies calls as intended."""
    log = tmp_path / "t.log"
    log.write_text(
        '100 1.000000 openat2(3</r>, "a", {flags=O_RDONLY|O_DIRECT, '
        'resolve=RESOLVE_BENEATH|RESOLVE_CACHED}, 24) = 7</r/a>\n'
        '100 1.100000 read(7</r/a>,  <unfinished ...>\n'
        '101 1.150000 openat(AT_FDCWD, "/x", O_RDONLY) = 8</x>\n'
        '100 1.200000 <... read resumed>"ab", 2) = 2\n'
        '100 1.300000 read(5<socket:[99]>, "GET", 3) = 3\n'
        '100 1.400000 statx(7</r/a>, "", AT_STATX_SYNC_AS_STAT|AT_EMPTY_PATH, '
        'STATX_ALL, {stx_mask=STATX_ALL}) = 0\n'
        '100 1.500000 newfstatat(3</r>, "a", {st_mode=S_IFREG|0644}, 0) = 0\n'
        '100 1.600000 openat2(3</r>, "b", {flags=O_RDONLY, resolve=RESOLVE_BENEATH}, 24) = 9\n'
        '100 1.700000 preadv2(9, [{iov_base="x", iov_len=1}], 1, 0, RWF_NOWAIT) = 1\n'
        '100 1.800000 pread64(9, "x", 1, 0) = 1\n'
        '100 1.900000 getdents64(3</r>, 0x1234 /* 2 entries */, 32768) = 48\n'
        '100 2.000000 --- SIGIO {si_signo=SIGIO} ---\n'
    )
    calls = parse_strace(log)
    assert [c.name for c in calls] == ["openat2", "openat", "read", "read", "statx",
                                        "newfstatat", "openat2", "preadv2", "pread64",
                                        "getdents64"]
    fds = FdTracker(lambda tid: 1)
    verdicts = []
    for c in calls:
        fds.update(c)
        verdicts.append(violation(c, fds) is not None)
    assert verdicts == [False, True, True, False, False, True, True, False, True, True]


def test_tls_connection_never_blocks(require_root, launch, tmp_path):
    """The same audit over --ssl: handshakes (full and resumed), cold and
    cached files, a range, pipelined requests and a garbage ClientHello,
    with no disk-touching call on a ferry-worker thread; and no worker
    process ever opens the key or the certificate (the master read them
    before it forked)."""
    certs = make_certificates(tmp_path / "certs")
    root = tmp_path / "root"
    root.mkdir()
    files = {f"/t{i}.bin": write_random(root / f"t{i}.bin", 50_000 + i * 90_001)
             for i in range(6)}
    files["/big.bin"] = write_random(root / "big.bin", 3 * 1024 * 1024 + 5)
    os.sync()
    trace = tmp_path / "strace.log"
    port = free_port()
    ferry = launch(root=root, wrapper=["strace", "-f", "-ttt", "-y", "-qq", "-s",
                                       "96", "-o", str(trace)],
                   args=[*tls_args(port, certs), "--helper-threads", "2"])
    known: dict[int, tuple[int, str]] = {}
    await_threads(ferry, known)

    context = ssl.create_default_context(cafile=str(certs["ca"]))

    def connect(session=None) -> ssl.SSLSocket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        return context.wrap_socket(sock, server_hostname="localhost",
                                   session=session)

    drop_caches()
    boundary = time.time()
    session = None
    for _ in range(2):  # cold, then cached
        with connect() as sock:
            reader = Reader(sock)
            for path, data in files.items():
                sock.sendall(build_request(path))
                assert read_response(reader).body == data, path
            sock.sendall(build_request("/big.bin", headers={"Range": "bytes=1000-2000000"}))
            assert read_response(reader).body == files["/big.bin"][1000:2000001]
            sock.sendall(b"".join(build_request(p) for p in files))
            for path, data in files.items():
                assert read_response(reader).body == data, path
            session = sock.session
    with connect(session) as sock:
        assert sock.session_reused
        sock.sendall(build_request("/t0.bin", close=True))
        assert read_response(Reader(sock)).body == files["/t0.bin"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(4096):
                pass

    snapshot_threads(ferry.pid, known)
    counters = ferry.stop()
    assert counters["tls_handshakes"] >= 3 and counters["tls_resumed"] >= 1, counters

    audit = LoopAudit(known, boundary)
    secrets = (str(certs["key"]), str(certs["cert"]))
    for call in parse_strace(trace):
        audit.see(call)
        if (call.name in OPENERS and audit.tgid_of(call.tid) != ferry.pid
                and any(secret in call.args for secret in secrets)):
            audit.bad.append(f"tid {call.tid}: a worker opened a TLS file: "
                             f"{call.text[:300]}")
    audit.check()
