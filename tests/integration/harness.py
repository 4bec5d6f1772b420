"""Harness for ferryd's integration tests (imported by conftest.py and tests).

Every test talks to a real `ferryd` started from $FERRYD (set by ctest; when
it is unset we fall back to a build directory next to the sources). The
harness:

* builds a document root in a temporary directory (plus a secret file just
  outside it, so path-escape tests have something to look for),
* starts ferryd with `--listen 127.0.0.1:0 --workers 1`, stderr to a file,
  and polls that file (10 s deadline) for `listening on HOST:PORT`,
* offers raw-socket HTTP helpers (`Ferry.request`, `read_response`),
* on teardown sends SIGTERM, waits up to 10 s, and asserts exit status 0 and
  a sanitizer-clean stderr.

Nothing here may make a test pass when ferryd is absent: a missing binary is
a fixture error, never a skip.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
START_DEADLINE = 10.0
STOP_DEADLINE = 10.0
LISTENING_RE = re.compile(rb"listening on (\S+):(\d+)")
COUNTERS_RE = re.compile(r"ferryd(?:\[\d+\])?: counters: (.*)$", re.M)
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error", "LeakSanitizer",
                     "ThreadSanitizer")
SECRET_MARKER = b"FERRY-SECRET-OUTSIDE-ROOT-7f3c9a"
REQUIRED_COUNTERS = ("requests", "accepted", "aio_reads", "aio_eagain",
                     "helper_opens", "helper_reads", "overflow_rescans")
HELLO = b"hello, ferry\n"
INDEX_HTML = b"<!doctype html><title>dir index</title>\n"


def ferryd_path() -> str:
    """The binary under test: $FERRYD, else a build tree beside the sources."""
    path = os.environ.get("FERRYD")
    if not path:
        repo = Path(__file__).resolve().parents[2]
        candidates = sorted(glob.glob(str(repo / "build*" / "ferryd")))
        candidates += sorted(glob.glob(str(repo.parent / "build*" / "ferryd")))
        path = candidates[0] if candidates else ""
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"ferryd binary not found or not executable (FERRYD={path!r});"
                    " build it and set FERRYD", pytrace=False)
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.02,
               message: str = "condition"):
    """Polls `predicate` until it returns a truthy value or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# /proc helpers

def proc_ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces or parentheses: split after the last ')'.
    return int(stat[stat.rindex(")") + 2:].split()[1])


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (scans /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and proc_ppid(int(entry)) == pid:
            kids.append(int(entry))
    return sorted(kids)


def proc_comm(pid: int, tid: int | None = None) -> str | None:
    path = f"/proc/{pid}/task/{tid}/comm" if tid else f"/proc/{pid}/comm"
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def thread_names(pid: int) -> dict[int, str]:
    """TID -> comm for every thread of process `pid`."""
    names = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            comm = proc_comm(pid, int(tid))
            if comm is not None:
                names[int(tid)] = comm
    return names


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def server_socket_inode(port: int, client: socket.socket) -> int | None:
    """The inode of the server-side socket connected to `client` (IPv4), once
    it has been accepted (sockets still in the accept queue have inode 0)."""
    cport = client.getsockname()[1]
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if (int(local.split(":")[1], 16) == port and
                    int(remote.split(":")[1], 16) == cport and inode):
                return inode
    return None


def holds_socket(pids: list[int], inode: int) -> bool:
    """Whether any of `pids` has socket `inode` open."""
    target = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return True
    return False


# --------------------------------------------------------------------------
# raw HTTP

class Reader:
    """Buffered reads from a socket, for parsing HTTP responses by hand."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_until(self, delim: bytes, limit: int = 1 << 20) -> bytes:
        start = 0
        while True:
            idx = self.buf.find(delim, start)
            if idx >= 0:
                out = bytes(self.buf[:idx + len(delim)])
                del self.buf[:idx + len(delim)]
                return out
            start = max(0, len(self.buf) - len(delim) + 1)
            if len(self.buf) > limit:
                raise ValueError(f"no {delim!r} within {limit} bytes")
            if not self._fill():
                raise EOFError(f"EOF before {delim!r}; had {bytes(self.buf[:200])!r}")

    def read_exact(self, n: int, allow_short: bool = False) -> bytes:
        chunks = []
        have = min(n, len(self.buf))
        chunks.append(bytes(self.buf[:have]))
        del self.buf[:have]
        need = n - have
        while need > 0:
            try:
                data = self.sock.recv(min(need, 1 << 20))
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                if allow_short:
                    break
                got = n - need
                raise EOFError(f"EOF after {got} of {n} body bytes")
            chunks.append(data)
            need -= len(data)
        return b"".join(chunks)

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def at_eof(self, timeout: float) -> bool:
        """True when the peer has closed (no further bytes) within `timeout`."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            return not self._fill()
        except (socket.timeout, TimeoutError):
            return False


def closed_unanswered(sock: socket.socket) -> bool:
    """True when the server closed `sock` without sending a byte."""
    sock.settimeout(10)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


@dataclass
class Response:
    version: str
    status: int
    reason: str
    header_list: list[tuple[str, str]]
    body: bytes
    raw_head: bytes
    complete: bool = True

    @property
    def headers(self) -> dict[str, str]:
        """Lower-case name -> value (repeated fields joined with ', ')."""
        out: dict[str, str] = {}
        for name, value in self.header_list:
            key = name.lower()
            out[key] = f"{out[key]}, {value}" if key in out else value
        return out

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.header_list if n.lower() == name.lower())


def parse_head(head: bytes) -> tuple[str, int, str, list[tuple[str, str]]]:
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    assert m, f"malformed status line {lines[0]!r}"
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        assert sep and name and name == name.strip(), f"malformed header {line!r}"
        headers.append((name, value.strip(" \t")))
    return m.group(1), int(m.group(2)), m.group(3) or "", headers


def read_response(reader: Reader, method: str = "GET",
                  allow_short: bool = False) -> Response:
    """Reads one response; the body is framed by Content-Length (or EOF)."""
    head = reader.read_until(b"\r\n\r\n", limit=1 << 20)
    version, status, reason, headers = parse_head(head[:-4])
    resp = Response(version, status, reason, headers, b"", head)
    if 100 <= status < 200:
        return read_response(reader, method, allow_short)
    if method == "HEAD" or status in (204, 304):
        return resp
    te = resp.header("transfer-encoding")
    cl = resp.header("content-length")
    if te:
        raise AssertionError(f"unexpected Transfer-Encoding {te!r} from ferryd")
    if cl is not None:
        assert re.fullmatch(r"\d+", cl), f"bad Content-Length {cl!r}"
        n = int(cl)
        resp.body = reader.read_exact(n, allow_short=allow_short)
        resp.complete = len(resp.body) == n
    else:
        resp.body = reader.read_to_eof()
    return resp


def build_request(path: str, method: str = "GET", headers: dict | None = None,
                  version: str = "HTTP/1.1", host: str | None = "ferry.test",
                  close: bool = False) -> bytes:
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --------------------------------------------------------------------------
# the daemon

@dataclass
class Ferry:
    """One running ferryd and its test document root."""

    root: Path
    workdir: Path
    proc: subprocess.Popen
    stderr_path: Path
    argv: list[str]
    pid: int = 0          # the ferryd master (not a wrapper such as strace)
    host: str = HOST
    port: int = 0
    exit_status: int | None = None
    counters: dict[str, int] | None = None
    stopped: bool = False
    crashed: bool = False  # SIGKILLed on purpose by crash()
    _stderr_file: object = field(default=None, repr=False)

    # -- addresses
    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    # -- requests
    def request(self, raw: bytes, method: str = "GET",
                timeout: float = 10.0) -> Response:
        """Sends `raw` on a fresh connection and reads one response."""
        with self.connect(timeout) as sock:
            sock.sendall(raw)
            return read_response(Reader(sock), method)

    def get(self, path: str, headers: dict | None = None, method: str = "GET",
            version: str = "HTTP/1.1", timeout: float = 10.0) -> Response:
        return self.request(build_request(path, method, headers, version,
                                          close=True), method, timeout)

    # -- process
    def stderr_text(self) -> str:
        return self.stderr_path.read_bytes().decode("utf-8", "replace")

    def worker_pids(self) -> list[int]:
        return children_of(self.pid)

    def rss_kib(self) -> int:
        """VmRSS of the master plus all its workers."""
        return sum(vm_rss_kib(p) for p in [self.pid, *self.worker_pids()])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int | None = signal.SIGTERM,
             timeout: float = STOP_DEADLINE) -> dict[str, int]:
        """Sends `sig` to the master (None: it was sent already), waits, and
        returns the counters line.

        Asserts exit status 0, a counters line carrying every required key
        and a sanitizer-clean stderr."""
        if not self.stopped:
            self.stopped = True
            if sig is not None and self.proc.poll() is None:
                os.kill(self.pid, sig)
            try:
                self.exit_status = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"ferryd did not exit within {timeout}s of signal {sig}; "
                    f"stderr tail:\n{self.stderr_text()[-3000:]}")
            finally:
                if self._stderr_file:
                    self._stderr_file.close()
        text = self.stderr_text()
        check_sanitizers(text)
        assert self.exit_status == 0, (
            f"ferryd exited with status {self.exit_status}; stderr tail:\n"
            f"{text[-3000:]}")
        matches = COUNTERS_RE.findall(text)
        assert matches, f"no 'ferryd: counters:' line on stderr:\n{text[-3000:]}"
        counters = {}
        for pair in matches[-1].split():
            key, sep, value = pair.partition("=")
            assert sep and re.fullmatch(r"-?\d+", value), f"bad counter {pair!r}"
            counters[key] = int(value)
        missing = [k for k in REQUIRED_COUNTERS if k not in counters]
        assert not missing, f"counters line lacks {missing}: {matches[-1]}"
        self.counters = counters
        return counters

    def crash(self):
        """SIGKILL for ferryd's whole process group (start_ferryd gives it a
        session of its own): the master and its workers die at once, as in a
        crash, none lingering until its PDEATHSIG. Teardown then expects
        it gone, not a clean exit."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.exit_status = self.proc.wait(STOP_DEADLINE)
        self.stopped = self.crashed = True
        if self._stderr_file:
            self._stderr_file.close()

    def kill(self):
        """SIGKILL for the master, its workers and any wrapper (last resort)."""
        kids = children_of(self.pid)  # before the master dies and they're orphaned
        for pid in [self.pid, *kids]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(5)


def check_sanitizers(text: str):
    for marker in SANITIZER_MARKERS:
        assert marker not in text, f"{marker!r} on ferryd's stderr:\n{text[-5000:]}"


def make_default_tree(base: Path) -> Path:
    """A document root with the fixtures most tests want.

    Layout (base/):
      secret.txt                    SECRET_MARKER, just outside the root
      root-sibling/secret.txt       SECRET_MARKER, in a sibling whose name
                                    starts with the root's name
      root/hello.txt, index.html, dir/index.html, noindex/, a/b/c.txt,
           .hidden, .git/config, dir/.secret, with space.txt,
           link-in -> hello.txt, link-out -> ../secret.txt,
           link-abs -> /abs/secret.txt, link-sibling -> ../root-sibling/...,
           fifo (FIFO), dev-null (char device, root only)
    """
    root = base / "root"
    root.mkdir(parents=True)
    (base / "secret.txt").write_bytes(SECRET_MARKER + b"\n")
    (base / "root-sibling").mkdir()
    (base / "root-sibling" / "secret.txt").write_bytes(SECRET_MARKER + b"\n")
    (root / "hello.txt").write_bytes(HELLO)
    (root / "index.html").write_bytes(b"<!doctype html><title>top</title>\n")
    (root / "dir").mkdir()
    (root / "dir" / "index.html").write_bytes(INDEX_HTML)
    (root / "dir" / ".secret").write_bytes(b"dot in dir\n")
    (root / "noindex").mkdir()
    (root / "noindex" / "file.txt").write_bytes(b"no index here\n")
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "c.txt").write_bytes(b"deep file\n")
    (root / ".hidden").write_bytes(b"hidden dotfile\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"[core]\n")
    (root / "with space.txt").write_bytes(b"spaced\n")
    os.symlink("hello.txt", root / "link-in")
    os.symlink("../secret.txt", root / "link-out")
    os.symlink(str(base / "secret.txt"), root / "link-abs")
    os.symlink("../root-sibling/secret.txt", root / "link-sibling")
    os.mkfifo(root / "fifo")
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.mknod(root / "dev-null", 0o666 | 0o020000, os.makedev(1, 3))
    return root


def start_ferryd(workdir: Path, root: Path, args: list[str] | None = None,
                 wrapper: list[str] | None = None, workers: int = 1,
                 extra_env: dict | None = None) -> Ferry:
    """Starts ferryd serving `root`; returns once it is listening."""
    binary = ferryd_path()
    argv = [binary, "--root", str(root), "--listen", f"{HOST}:0",
            "--workers", str(workers), *(args or [])]
    full = [*(wrapper or []), *argv]
    workdir.mkdir(parents=True, exist_ok=True)
    stderr_path = workdir / f"ferryd-stderr-{time.monotonic_ns()}.log"
    stderr_file = open(stderr_path, "wb")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    env.update(extra_env or {})
    if wrapper and not _wrapper_execs(wrapper):
        # LeakSanitizer cannot run under ptrace and says so fatally.
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"] + ":detect_leaks=0"
    proc = subprocess.Popen(full, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=stderr_file,
                            env=env, start_new_session=True)
    ferry = Ferry(root=root, workdir=workdir, proc=proc, stderr_path=stderr_path,
                  argv=full, pid=proc.pid, _stderr_file=stderr_file)
    deadline = time.monotonic() + START_DEADLINE
    while True:
        m = LISTENING_RE.search(stderr_path.read_bytes())
        if m:
            ferry.port = int(m.group(2))
            break
        if proc.poll() is not None:
            stderr_file.close()
            pytest.fail(f"ferryd exited with {proc.returncode} before listening:"
                        f" {' '.join(full)}\n{ferry.stderr_text()[-3000:]}",
                        pytrace=False)
        if time.monotonic() > deadline:
            ferry.kill()
            stderr_file.close()
            pytest.fail(f"no 'listening on' line within {START_DEADLINE}s:"
                        f" {' '.join(full)}\n{ferry.stderr_text()[-3000:]}",
                        pytrace=False)
        time.sleep(0.02)
    if wrapper and not _wrapper_execs(wrapper):
        # The wrapper (strace) forks ferryd, its only child: the master.
        def find_master():
            kids = children_of(proc.pid)
            return kids[0] if len(kids) == 1 else None
        try:
            ferry.pid = wait_until(find_master, 5.0, message="ferryd under wrapper")
        except BaseException:
            for kid in children_of(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(kid, signal.SIGKILL)
            ferry.kill()
            stderr_file.close()
            raise
    return ferry


def _wrapper_execs(wrapper: list[str]) -> bool:
    """prlimit/env/taskset exec the command; strace forks it."""
    return os.path.basename(wrapper[0]) != "strace"


def finish(ferry: Ferry):
    """Teardown: graceful stop, exit 0, clean stderr (asserts); of a
    crashed instance only the stderr."""
    if ferry.crashed:
        check_sanitizers(ferry.stderr_text())
        return
    try:
        ferry.stop()  # after an explicit stop() this re-checks its result
    finally:
        if ferry.proc.poll() is None:
            ferry.kill()


class Launcher:
    """Starts ferryd instances for one test (or module) and stops them all."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.instances: list[Ferry] = []

    def __call__(self, root: Path | None = None, args: list[str] | None = None,
                 **kw) -> Ferry:
        if root is None:
            root = make_default_tree(self.workdir / f"tree{len(self.instances)}")
        ferry = start_ferryd(self.workdir, root, args, **kw)
        self.instances.append(ferry)
        return ferry

    def close(self):
        errors = []
        for ferry in self.instances:
            try:
                finish(ferry)
            except BaseException as exc:  # report every instance's problem
                errors.append(f"{' '.join(ferry.argv)}: {exc}")
        if errors:
            raise AssertionError("\n".join(errors))


@pytest.fixture
def launch(tmp_path):
    """Factory: launch(root=None, args=[...], wrapper=[...]) -> Ferry."""
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.close()


@pytest.fixture(scope="module")
def module_launch(tmp_path_factory):
    """Like `launch`, shared by one test module."""
    launcher = Launcher(tmp_path_factory.mktemp("ferry"))
    yield launcher
    launcher.close()


@pytest.fixture
def ferry(launch) -> Ferry:
    """A ferryd with default flags serving `make_default_tree`."""
    return launch()


CHROMIUM = shutil.which("chromium")


def need_chromium():
    """Skips without Chromium, except under CI, which installs it."""
    if CHROMIUM is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI installs it (README)", pytrace=False)
        pytest.skip(message)


def sanitized() -> bool:
    """Whether the ferryd under test was built with ASan or TSan: several
    times slower, mlock() a no-op, freed memory held in quarantine."""
    data = Path(ferryd_path()).read_bytes()  # gcc links the runtimes in
    return b"__asan_init" in data or b"__tsan_init" in data


def ensure_tracefs() -> Path:
    """tracefs, mounted here when the machine has not mounted it (a fresh
    Debian 12 has not; CI runs as root). Fails rather than skips."""
    tracing = Path("/sys/kernel/tracing")
    if not (tracing / "instances").is_dir():
        result = subprocess.run(["mount", "-t", "tracefs", "nodev", str(tracing)],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"cannot mount tracefs: {result.stderr}"
    assert (tracing / "instances").is_dir(), "tracefs has no instances/"
    return tracing


def raise_nofile_limit():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def make_random_tree(base: Path, sizes: dict[str, int]) -> tuple[Path, dict[str, bytes]]:
    """base/root with hello.txt and a random file of each size (seeded by
    its size); returns the root and {url path: contents}."""
    root = base / "root"
    root.mkdir()
    files = {"/hello.txt": HELLO}
    (root / "hello.txt").write_bytes(HELLO)
    for name, size in sizes.items():
        files[f"/{name}"] = write_random(root / name, size, seed=size)
    return root, files


def write_random(path: Path, size: int, seed: int | None = None) -> bytes:
    """Writes `size` random bytes to `path` and returns them."""
    data = os.urandom(size) if seed is None else _seeded(size, seed)
    path.write_bytes(data)
    return data


def _seeded(size: int, seed: int) -> bytes:
    import random
    return random.Random(seed).randbytes(size)


class _Client:
    def __init__(self, index: int, sock: socket.socket):
        self.index = index
        self.sock = sock
        self.connected = False
        self.out = b""
        self.buf = bytearray()
        self.path = ""
        self.need = -1       # total bytes (head + body) of the awaited response
        self.done = False


def open_clients(ferry: Ferry, count: int) -> list[_Client]:
    """`count` non-blocking sockets with connects in progress."""
    clients = []
    for i in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((ferry.host, ferry.port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, f"connect #{i}")
        clients.append(_Client(i, sock))
    return clients


def run_round(clients: list[_Client], path_of, expected: dict[str, bytes],
              timeout: float = 60.0) -> list[str]:
    """Every client sends one keep-alive GET for path_of(index) and reads the
    response, all concurrently (selectors). Returns failure descriptions;
    a client that failed is closed and dropped from later rounds."""
    failures: list[str] = []
    sel = selectors.DefaultSelector()
    live = [c for c in clients if c.sock.fileno() >= 0]
    for c in live:
        c.path = path_of(c.index)
        c.out = build_request(c.path)
        c.buf.clear()
        c.need = -1
        c.done = False
        sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    pending = len(live)
    deadline = time.monotonic() + timeout

    def fail(c, why):
        nonlocal pending
        failures.append(f"client {c.index} {c.path}: {why}")
        sel.unregister(c.sock)
        c.sock.close()
        pending -= 1

    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            for key in list(sel.get_map().values()):
                fail(key.data, "timed out")
            break
        for key, events in sel.select(min(left, 1.0)):
            c = key.data
            if events & selectors.EVENT_WRITE:
                if not c.connected:
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        fail(c, f"connect: {os.strerror(err)}")
                        continue
                    c.connected = True
                try:
                    n = c.sock.send(c.out)
                    c.out = c.out[n:]
                except BlockingIOError:
                    pass
                except OSError as exc:
                    fail(c, f"send: {exc}")
                    continue
                if not c.out:
                    sel.modify(c.sock, selectors.EVENT_READ, c)
            if events & selectors.EVENT_READ:
                try:
                    data = c.sock.recv(1 << 18)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    fail(c, f"recv: {exc}")
                    continue
                if not data:
                    fail(c, f"EOF after {len(c.buf)} bytes")
                    continue
                c.buf += data
                if c.need < 0:
                    end = c.buf.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    _, status, _, headers = parse_head(bytes(c.buf[:end]))
                    lengths = [v for n, v in headers if n.lower() == "content-length"]
                    if status != 200 or len(lengths) != 1:
                        fail(c, f"status {status}, Content-Length {lengths}")
                        continue
                    if int(lengths[0]) != len(expected[c.path]):
                        fail(c, f"Content-Length {lengths[0]}, expected"
                                f" {len(expected[c.path])}")
                        continue
                    c.need = end + 4 + int(lengths[0])
                if len(c.buf) > c.need:
                    fail(c, "bytes beyond Content-Length")
                elif len(c.buf) == c.need:
                    body_start = c.need - len(expected[c.path])
                    if bytes(c.buf[body_start:]) != expected[c.path]:
                        fail(c, "body differs")
                        continue
                    sel.unregister(c.sock)
                    c.done = True
                    pending -= 1
    sel.close()
    return failures


def close_clients(clients: list[_Client]):
    for c in clients:
        c.sock.close()


# --------------------------------------------------------------------------
# TLS

def openssl(*args, cwd: Path, input: bytes | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], cwd=cwd, input=input,
                          capture_output=True, timeout=timeout)


def make_certificates(directory: Path, days: int = 2) -> dict[str, Path]:
    """A test CA and a server certificate it signed (CN=localhost, SAN
    localhost and 127.0.0.1), both ECDSA P-256, valid for `days`; the key
    mode 600."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    steps = [
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days",
         str(days), "-subj", "/CN=ferry test CA"],
        ["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj",
         "/CN=localhost"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
         "ca.key", "-CAcreateserial", "-out", "server.pem", "-days",
         str(days), "-extfile", "ext.cnf"],
    ]
    (directory / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    for step in steps:
        done = openssl(*step, cwd=directory)
        assert done.returncode == 0, done.stderr.decode()
    os.chmod(directory / "server.key", 0o600)
    return {"ca": directory / "ca.pem", "cert": directory / "server.pem",
            "key": directory / "server.key"}


def run_refused(tmp_path: Path, args: list[str]) -> str:
    """Runs ferryd with `args` (and a root) where it must refuse to start:
    asserts a non-zero exit and one line on stderr, and returns that line."""
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    done = subprocess.run([ferryd_path(), "--root", str(root), *args],
                          capture_output=True, timeout=30)
    assert done.returncode != 0
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def tls_args(port: int, certs: dict[str, Path]) -> list[str]:
    return ["--listen", f"127.0.0.1:{port}", "--ssl", f"127.0.0.1:{port}",
            "--ssl-certificate", str(certs["cert"]),
            "--ssl-certificate-key", str(certs["key"])]
