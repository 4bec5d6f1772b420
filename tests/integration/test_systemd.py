"""systemd integration without booting systemd: socket activation through
the real systemd-socket-activate, sd_notify through a datagram socket named
in NOTIFY_SOCKET, the watchdog, and SIGHUP reloads."""

import hashlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import (check_sanitizers, children_of, ferryd_path, free_port,
                     wait_until, write_random)

HOST = "127.0.0.1"


def http_get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """One GET with Connection: close; returns (status, body)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


class Daemon:
    """ferryd started with an arbitrary command line; stderr to a file."""

    def __init__(self, tmp: Path, argv: list[str], env: dict | None = None):
        self.stderr_path = tmp / f"stderr-{time.monotonic_ns()}.log"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self._stderr,
                                     env={**os.environ, **(env or {})},
                                     start_new_session=True)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout: float = 10.0):
        return wait_until(lambda: re.search(pattern, self.stderr()), timeout,
                          message=f"{pattern!r} on stderr:\n{self.stderr()[-2000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(15)
        self._stderr.close()
        check_sanitizers(self.stderr())
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._stderr.close()


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_bytes(b"first index\n")
    (root / "other.html").write_bytes(b"second index\n")
    write_random(root / "big.bin", 24 << 20, seed=3)
    return root


def test_socket_activation_serves_inherited_sockets(tmp_path, tree):
    """systemd-socket-activate passes two sockets (LISTEN_FDS=2, named):
    ferryd serves both, with two workers sharing them, and opens no listener
    of its own."""
    ports = [free_port(), free_port()]
    argv = ["systemd-socket-activate", "-l", f"{HOST}:{ports[0]}",
            "-l", f"{HOST}:{ports[1]}", "--fdname=web:alt",
            ferryd_path(), "--root", str(tree), "--workers", "2"]
    daemon = Daemon(tmp_path, argv)
    try:
        daemon.wait_for_line(rf"Listening on {HOST}:{ports[1]}")
        # The first connection makes socket-activate exec ferryd.
        assert http_get(ports[0], "/", timeout=20)[1] == b"first index\n"
        daemon.wait_for_line(r"listening on systemd:alt")
        assert "listening on systemd:web" in daemon.stderr()
        assert "127.0.0.1:8080" not in daemon.stderr(), "opened its own listener"
        expected = hashlib.sha256((tree / "big.bin").read_bytes()).hexdigest()
        for port in ports:
            status, body = http_get(port, "/big.bin", timeout=20)
            assert status == 200
            assert hashlib.sha256(body).hexdigest() == expected
            assert http_get(port, "/")[1] == b"first index\n"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, 8080), timeout=2).close()
    finally:
        assert daemon.stop() == 0


class NotifySocket:
    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []

    def collect(self, seconds: float) -> list[str]:
        """Every datagram that arrives within `seconds`."""
        got = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                got.append(self.sock.recv(4096).decode())
            except socket.timeout:
                break
        self.messages += got
        return got

    def wait_for(self, state: str, timeout: float = 10.0) -> list[str]:
        """Datagrams up to and including the first one carrying `state`."""
        got = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                message = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            got.append(message)
            if state in message.split("\n"):
                self.messages += got
                return got
        raise AssertionError(f"no {state} within {timeout}s; got {got}")


def pings(messages: list[str]) -> int:
    return sum("WATCHDOG=1" in m.split("\n") for m in messages)


def test_notify_ready_status_watchdog_stopping_in_order(tmp_path, tree):
    """READY=1 comes first (with STATUS=), WATCHDOG=1 pings follow while
    every worker ticks, stop when one worker is SIGSTOPped, resume with
    SIGCONT, and STOPPING=1 comes on SIGTERM."""
    notify = NotifySocket(tmp_path / "notify")
    daemon = Daemon(tmp_path, [ferryd_path(), "--root", str(tree), "--listen",
                               f"{HOST}:0", "--workers", "2"],
                    env={"NOTIFY_SOCKET": str(notify.path),
                         "WATCHDOG_USEC": "400000"})
    try:
        first = notify.wait_for("READY=1")
        assert len(first) == 1, f"something came before READY=1: {first}"
        assert "STATUS=" in first[0]
        # The first ping waits for every worker's first tick (seconds under
        # TSan on a loaded host); from then on an idle daemon keeps pinging.
        notify.wait_for("WATCHDOG=1")
        assert pings(notify.collect(1.2)) >= 2, "an idle daemon must keep pinging"
        workers = wait_until(lambda: children_of(daemon.proc.pid), 5,
                             message="workers")
        os.kill(workers[0], signal.SIGSTOP)
        try:
            notify.collect(0.5)  # a ping may already be on its way
            assert pings(notify.collect(1.2)) == 0, "pinged with a stuck worker"
        finally:
            os.kill(workers[0], signal.SIGCONT)
        assert pings(notify.collect(1.2)) >= 2, "pings did not resume"
        daemon.proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
    finally:
        assert daemon.stop() == 0
    states = [line for m in notify.messages for line in m.split("\n")]
    assert states.index("READY=1") < states.index("STOPPING=1")
    assert any(s.startswith("STATUS=") for s in states)


def write_config(path: Path, root: Path, index: str, extra: str = ""):
    path.write_text(f"root = {root}\nlisten = {HOST}:0\nworkers = 1\n"
                    f"index = {index}\n{extra}")


def test_sighup_reload_applies_config_and_keeps_transfers(tmp_path, tree):
    """SIGHUP re-reads the config file: a new index name applies, a download
    in progress finishes byte-exact, RELOADING=1 then READY=1 are sent; a
    broken config is refused in one log line and the old one keeps
    serving."""
    config = tmp_path / "ferryd.conf"
    write_config(config, tree, "index.html")
    notify = NotifySocket(tmp_path / "notify")
    daemon = Daemon(tmp_path, [ferryd_path(), "--config", str(config)],
                    env={"NOTIFY_SOCKET": str(notify.path)})
    try:
        notify.wait_for("READY=1")
        port = int(daemon.wait_for_line(r"listening on 127\.0\.0\.1:(\d+)")
                   .group(1))
        assert http_get(port, "/")[1] == b"first index\n"
        # A slow download (rate-limited client) across the reload.
        download = tmp_path / "download.bin"
        curl = subprocess.Popen(["curl", "-sS", "--limit-rate", "8M", "-o",
                                 str(download), f"http://{HOST}:{port}/big.bin"])
        wait_until(lambda: download.exists() and download.stat().st_size > 0,
                   10, message="the download to start")
        write_config(config, tree, "other.html")
        daemon.proc.send_signal(signal.SIGHUP)
        reload_messages = notify.wait_for("READY=1")
        states = [line for m in reload_messages for line in m.split("\n")]
        assert "RELOADING=1" in states
        assert states.index("RELOADING=1") < states.index("READY=1")
        assert http_get(port, "/")[1] == b"second index\n"
        assert curl.poll() is None, "the download should still be running"
        assert curl.wait(30) == 0
        assert download.read_bytes() == (tree / "big.bin").read_bytes()

        config.write_text(f"root = {tree}\nblock-size = 3K\n")
        daemon.proc.send_signal(signal.SIGHUP)
        line = daemon.wait_for_line(r"reload failed.*\n")
        assert "--block-size" in line.group(0)
        assert http_get(port, "/")[1] == b"second index\n"
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0


def unit_setting(unit: str, name: str) -> tuple[str, str]:
    """The value of `name=` in `unit` and the comment line just above it."""
    lines = unit.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(name + "="):
            return line.split("=", 1)[1], lines[i - 1]
    raise AssertionError(f"ferryd.service sets no {name}=")


def test_unit_caps_tasks_and_memory_above_what_the_defaults_use():
    """TasksMax= and MemoryMax= are set, each explained, and here (one
    worker per CPU, default flags, two generations during a reload) leave
    the daemon room: 8 tasks and ~220 MiB per CPU."""
    unit = (Path(__file__).resolve().parents[2] / "systemd" /
            "ferryd.service").read_text()
    tasks, comment = unit_setting(unit, "TasksMax")
    assert comment.startswith("#"), comment
    cpus = os.cpu_count()
    assert int(tasks) >= 8 * cpus + 1, tasks
    memory, comment = unit_setting(unit, "MemoryMax")
    assert comment.startswith("#"), comment
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    m = re.fullmatch(r"(\d+)%", memory)
    cap = ram * int(m.group(1)) // 100 if m else int(memory)
    assert cap >= cpus * 2 * (64 + 32 + 16) << 20, (memory, cpus, ram)
