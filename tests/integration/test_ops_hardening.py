"""Operations hardening: what root opens for the workers (the access log),
one daemon per address, signals nobody should be able to kill a worker
with, the metrics endpoint under load."""

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import (HELLO, Reader, build_request, children_of, ferryd_path,
                     free_port, holds_socket, make_default_tree, read_response,
                     wait_until, write_random)

ORIGINAL = b"root's file, not a log\n"


@pytest.fixture(autouse=True)
def require_root():
    if os.geteuid() != 0:
        pytest.fail("these tests are about what root does; CI runs as root")


def served(ferry, path: str) -> bool:
    """One GET of `path` answered with hello.txt (a connection refused or
    reset while a worker is replaced is a no)."""
    with contextlib.suppress(OSError, EOFError):
        return ferry.get(path, timeout=2).body == HELLO
    return False


def start_and_fail(tmp_path, *args, timeout=10):
    """Runs ferryd expecting a start-up failure; one that serves is killed
    and reported."""
    root = make_default_tree(tmp_path / "tree")
    try:
        return subprocess.run([ferryd_path(), "--root", str(root), "--workers",
                               "1", *args], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ferryd {' '.join(args)} started instead of refusing")


def log_dir(tmp_path):
    """A log directory the serving user (nobody) may write, as LogsDirectory=
    makes it for _ferry, and a file of root's outside it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    os.chown(logs, 65534, 65534)
    target = tmp_path / "outside" / "passwd-like"
    target.parent.mkdir()
    target.write_bytes(ORIGINAL)
    return logs, target


@pytest.mark.parametrize("plant,reason", [
    ("symlink", "symbolic link"),
    ("dangling-symlink", "symbolic link"),
    ("hardlink", "hard link"),
    ("foreign-owner", "owned by"),
])
def test_access_log_trap_is_refused_at_start(tmp_path, plant, reason):
    """The access log path is a symlink (to a file of root's, or to a file
    root would create), a hard link to root's file, or a file of another
    user: ferryd exits 64 with one line naming --access-log, and the target
    is neither created nor written."""
    logs, target = log_dir(tmp_path)
    log = logs / "access.log"
    created = tmp_path / "outside" / "created-by-root"
    if plant == "symlink":
        os.symlink(target, log)
    elif plant == "dangling-symlink":
        os.symlink(created, log)
    elif plant == "hardlink":
        os.link(target, log)
    else:
        log.write_bytes(b"")
        os.chown(log, 12345, 12345)
    result = start_and_fail(tmp_path, "--listen", "127.0.0.1:0",
                            "--access-log", str(log))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 64, result.stderr
    assert len(lines) == 1 and "--access-log" in lines[0], lines
    assert reason in lines[0], lines
    assert target.read_bytes() == ORIGINAL
    assert not created.exists()


def swap_for_symlink(log, target):
    rotated = log.with_name(log.name + ".1")
    os.rename(log, rotated)
    os.symlink(target, log)
    return rotated


def test_sigusr1_does_not_follow_a_planted_symlink(launch, tmp_path):
    """The log is swapped for a symlink to root's file, then SIGUSR1: the
    master refuses it in one error line and the workers write on to the
    file they had; the target is untouched."""
    logs, target = log_dir(tmp_path)
    log = logs / "access.log"
    ferry = launch(args=["--access-log", str(log)])
    ferry.get("/hello.txt?before")
    wait_until(lambda: b"before" in log.read_bytes(), 10, message="first record")
    rotated = swap_for_symlink(log, target)
    os.kill(ferry.pid, signal.SIGUSR1)
    wait_until(lambda: "reopen" in ferry.stderr_text(), 10,
               message="the reopen to be tried")
    assert ferry.get("/hello.txt?after").body == HELLO
    wait_until(lambda: b"after" in rotated.read_bytes() + target.read_bytes(),
               10, message="the record after the reopen")
    assert target.read_bytes() == ORIGINAL
    assert "symbolic link" in ferry.stderr_text()


def test_a_refork_does_not_follow_a_planted_symlink(launch, tmp_path):
    """The worker user's attack: swap the log for a symlink, then kill its
    own worker. The re-forked worker must not open the path as root."""
    logs, target = log_dir(tmp_path)
    log = logs / "access.log"
    ferry = launch(args=["--access-log", str(log)])
    (old,) = wait_until(lambda: ferry.worker_pids() or None, 5, message="a worker")
    swap_for_symlink(log, target)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: [p for p in ferry.worker_pids() if p != old], 10,
               message="a replacement worker")
    wait_until(lambda: served(ferry, "/hello.txt?after-refork"), 10,
               interval=0.1, message="the new worker to serve")
    rotated = log.with_name("access.log.1")
    wait_until(lambda: b"after-refork" in rotated.read_bytes() + target.read_bytes(),
               10, message="the record after the re-fork")
    assert target.read_bytes() == ORIGINAL


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_daemon_on_the_same_port_refuses_to_start(launch, tmp_path,
                                                           workers):
    """SO_REUSEPORT would let a second ferryd on our address take part of
    our clients: it must exit at once with one line naming the address,
    while the first serves on."""
    first = launch(workers=workers)
    address = f"127.0.0.1:{first.port}"
    result = start_and_fail(tmp_path, "--listen", address)
    lines = result.stderr.strip().splitlines()
    assert result.returncode not in (0, None), result.stderr
    assert lines == [f"ferryd: --listen {address}: address already in use"], lines
    for _ in range(10):
        assert first.get("/hello.txt").body == HELLO


def test_a_second_daemon_on_the_same_unix_socket_refuses_to_start(launch,
                                                                  tmp_path):
    """A unix socket file a live daemon accepts on is not a stale one to
    remove: the second daemon refuses and the first keeps its socket."""
    path = tmp_path / "ferry.sock"
    first = launch(args=["--listen", f"unix:{path}"])
    result = start_and_fail(tmp_path, "--listen", f"unix:{path}")
    assert result.returncode not in (0, None), result.stderr
    assert result.stderr.strip().splitlines() == [
        f"ferryd: --listen unix:{path}: address already in use"]
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(str(path))
        client.sendall(build_request("/hello.txt"))
        assert read_response(Reader(client)).body == HELLO
    assert first.alive()


@pytest.mark.parametrize("offset", [0, 10, "max"])
def test_an_unused_realtime_signal_kills_neither_worker_nor_master(launch,
                                                                    offset):
    """Any process of the serving user may sigqueue() a realtime signal to a
    worker; those ferry does not use are ignored, not fatal (their default
    action is to terminate)."""
    ferry = launch()
    (worker,) = wait_until(lambda: ferry.worker_pids() or None, 5,
                           message="a worker")
    signo = signal.SIGRTMAX if offset == "max" else signal.SIGRTMIN + offset
    os.kill(worker, signo)
    os.kill(ferry.pid, signo)
    # The worker must run to answer, so it has met the signal by then.
    assert served(ferry, "/hello.txt")
    assert ferry.worker_pids() == [worker]
    assert ferry.alive()
    assert "killed by signal" not in ferry.stderr_text()


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def expect_idle(pid: int, window: float = 2.0):
    """`pid` uses under 10% of a core over `window` seconds (a busy loop
    uses all of it)."""
    before = cpu_seconds(pid)
    started = time.monotonic()
    time.sleep(window)  # the measurement window, not a synchronisation
    used = cpu_seconds(pid) - before
    wall = time.monotonic() - started
    assert used < 0.1 * wall, f"pid {pid} used {used:.2f}s of CPU in {wall:.1f}s"


class SocketActivated:
    """ferryd under systemd-socket-activate (one inherited TCP listener,
    shared by the workers), with stderr in a file."""

    def __init__(self, tmp_path, wrapper, args):
        self.port = free_port()
        self.stderr_path = tmp_path / "activated-stderr.log"
        root = make_default_tree(tmp_path / "activated")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [*wrapper, "systemd-socket-activate", "-l",
                 f"127.0.0.1:{self.port}", ferryd_path(), "--root", str(root),
                 "--workers", "1", *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, start_new_session=True)
        # It execs ferryd on the first connection, once it listens.
        wait_until(lambda: "Listening on" in self.stderr_text(), 10,
                   message="systemd-socket-activate to listen")

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stderr_text(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(15) == 0, self.stderr_text()[-2000:]
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["unix", "systemd"])
def test_emfile_on_a_shared_listener_does_not_spin(launch, tmp_path, kind):
    """Under --nofile=64, idle clients of a shared listener (a unix socket,
    or systemd's socket: both waited on in epoll, level-triggered) use up
    the worker's descriptors. While accept fails with EMFILE the worker
    must not spin (< 10% of a core over 2 s), and a client that queued
    meanwhile is answered once the idle ones leave."""
    limits = ["prlimit", "--nofile=64:64"]
    timeouts = ["--header-timeout", "60s", "--idle-timeout", "60s"]
    if kind == "unix":
        path = tmp_path / "ferry.sock"
        ferry = launch(wrapper=limits, args=[*timeouts, "--listen", f"unix:{path}"])

        def connect():
            client = socket.socket(socket.AF_UNIX)
            client.settimeout(10)
            client.connect(str(path))
            return client
        stop = None
    else:
        ferry = SocketActivated(tmp_path, limits, timeouts)
        connect, stop = ferry.connect, ferry.stop
    clients = []
    try:
        for _ in range(70):
            clients.append(connect())
        wait_until(lambda: "Too many open files" in ferry.stderr_text(), 10,
                   message="accept to hit EMFILE")
        queued = connect()
        clients.append(queued)
        queued.sendall(build_request("/hello.txt", close=True))
        master = ferry.proc.pid if kind == "systemd" else ferry.pid
        (worker,) = children_of(master)
        expect_idle(worker)
        for client in clients[:-1]:
            client.close()
        assert read_response(Reader(queued)).body == HELLO
    finally:
        for client in clients:
            client.close()
        if stop:
            stop()


def unix_listener_inode(path) -> int:
    """The inode of the listening unix socket bound to `path`."""
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and fields[7] == str(path) and fields[5] == "01":
            return int(fields[6])
    raise AssertionError(f"no unix socket listens on {path}")


def test_a_stopping_worker_does_not_spin_on_a_shared_listener(launch, tmp_path):
    """A worker finishing a transfer after SIGTERM closed its copy of the
    shared listener, but the master holds the socket, so epoll still
    reports a client that connects meanwhile: the worker must not spin on
    it for the rest of --shutdown-timeout."""
    root = make_default_tree(tmp_path / "tree")
    write_random(root / "big.bin", 64 << 20)
    path = tmp_path / "ferry.sock"
    ferry = launch(root=root, args=["--listen", f"unix:{path}",
                                    "--shutdown-timeout", "30s"])
    slow = socket.socket(socket.AF_UNIX)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(str(path))
    slow.sendall(build_request("/big.bin"))
    wait_until(lambda: slow.recv(1, socket.MSG_PEEK), 10, message="the transfer")
    (worker,) = ferry.worker_pids()
    listener = unix_listener_inode(path)
    os.kill(ferry.pid, signal.SIGTERM)
    wait_until(lambda: not holds_socket([worker], listener), 10,
               message="the worker to close its copy of the listener")
    late = socket.socket(socket.AF_UNIX)
    try:
        late.connect(str(path))  # queued in the master's socket's backlog
        expect_idle(worker)
    finally:
        late.close()
        slow.close()
    ferry.stop(sig=None)


def test_the_production_binary_reads_no_fault_injection_variable(launch):
    """An environment inherited by accident (a unit's Environment=, a
    wrapper) must not make reads fail: the seam is a command-line flag."""
    ferry = launch(args=["--file-cache", "0"],
                   extra_env={"FERRYD_TEST_FAIL_READS": "1"})
    response = ferry.get("/hello.txt")
    assert (response.status, response.body) == (200, HELLO)


def test_the_fault_injection_flag_is_not_a_setting(tmp_path):
    """--test-fail-reads is neither listed by --help nor taken from a
    config file."""
    config = tmp_path / "ferryd.conf"
    config.write_text("test-fail-reads = 1\n")
    result = start_and_fail(tmp_path, "--listen", "127.0.0.1:0", "--config",
                            str(config))
    assert result.returncode == 64, result.stderr
    assert "test-fail-reads" in result.stderr
    help_text = subprocess.run([ferryd_path(), "--help"], capture_output=True,
                               text=True, timeout=10).stdout
    assert "test-fail-reads" not in help_text


class OpenWatch:
    """inotify IN_OPEN on one path: whether anything opened it since (an
    O_PATH descriptor raises no event)."""

    IN_OPEN = 0x20

    def __init__(self, path):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, ctypes.get_errno()
        assert libc.inotify_add_watch(self.fd, bytes(path), self.IN_OPEN) >= 0

    def opened(self) -> bool:
        try:
            return len(os.read(self.fd, 4096)) > 0
        except BlockingIOError:
            return False

    def close(self):
        os.close(self.fd)


@pytest.mark.parametrize("name", ["dev-null", "fifo"])
def test_a_device_or_fifo_in_the_tree_is_refused_unopened(ferry, name):
    """A device's open() has effects of its own (a watchdog arms, a tape
    rewinds) and a FIFO's wakes its writers: the worker learns the type
    from an O_PATH descriptor and answers 403 without opening either. The
    event would be queued before the answer was sent, so reading the watch
    after the answer cannot miss it."""
    node = ferry.root / name
    assert node.exists(), node
    watch = OpenWatch(node)
    try:
        assert ferry.get(f"/{name}").status == 403
        assert not watch.opened()
        assert ferry.get("/hello.txt").body == HELLO
    finally:
        watch.close()
