"""Scale-out behind Debian's haproxy: two ferryd on distinct loopback
addresses, each with a --proxy-protocol listener only haproxy may use,
--health-path and --drain-time, and haproxy in front of them (mode http,
roundrobin, send-proxy-v2, option httpchk) run in the foreground from the
shipped example, systemd/examples/haproxy.cfg, with this test's addresses
filled in. Proven: the clients' addresses reach both access logs; a crashed
instance is taken out and the download it cut resumes byte-exact through
haproxy (curl -C -, aria2c -c); a drain under load fails no request; a
PROXY header from elsewhere is refused."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import HELLO, Ferry, Reader, Response, build_request, \
    closed_unanswered, file_sha256, free_port, make_random_tree, \
    read_response, sha256, wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "systemd/examples/haproxy.cfg"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
BACKENDS = ("127.0.0.2", "127.0.0.3")
# haproxy's source address towards them: lo's, as `ip route get 127.0.0.2`
# says; the only one --proxy-protocol-from allows.
HAPROXY_SOURCE = "127.0.0.1"
CLIENTS = ("127.0.0.10", "127.0.0.11")
OUTSIDER = "127.0.0.12"
BIG = 64 << 20
SMALL = {f"small{n}.bin": 1000 + 7919 * n for n in range(6)}
CHECK = '"GET /healthz HTTP/1.0"'  # haproxy's option httpchk


@dataclass
class Site:
    root: Path
    files: dict[str, bytes]  # URL path -> contents


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    """One tree both instances serve: a 64 MiB file and small ones."""
    return Site(*make_random_tree(tmp_path_factory.mktemp("site"),
                                  {"big.bin": BIG, **SMALL}))


class HAProxy:
    """haproxy -db: in the foreground, a child of the test, its stderr (its
    log too) in a file; the servers' states from its stats socket."""

    def __init__(self, cfg: Path, stats: Path, workdir: Path):
        if not os.access(HAPROXY, os.X_OK):
            pytest.fail(f"haproxy not found ({HAPROXY}): apt-get install haproxy",
                        pytrace=False)
        self.stats = stats
        self.stderr_path = workdir / "haproxy-stderr.log"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)],
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=stderr)

    def servers(self) -> dict[str, dict[str, str]]:
        """`show stat` of backend ferry: server name -> its CSV fields
        (status: UP, DOWN, "UP 1/2"...; scur: sessions now)."""
        if self.proc.poll() is not None:
            raise AssertionError(f"haproxy exited with {self.proc.returncode}:\n"
                                 f"{self.stderr_path.read_text()[-3000:]}")
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(self.stats))
            sock.sendall(b"show stat\n")
            text = Reader(sock).read_to_eof().decode()
        lines = text.lstrip("# ").splitlines()
        return {row["svname"]: row for row in csv.DictReader(lines)
                if row["pxname"] == "ferry"
                and row["svname"] not in ("FRONTEND", "BACKEND")}

    def wait_for(self, server: str, status: str, timeout: float = 10):
        def reached():
            try:
                return self.servers()[server]["status"] == status
            except (FileNotFoundError, ConnectionRefusedError):
                return False  # the stats socket is not there yet
        wait_until(reached, timeout, message=f"haproxy to see {server} {status}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def haproxy_config(front: int, servers: list[str], stats: Path) -> str:
    """The shipped example with this test's addresses, as its header comment
    says: each value replaced must appear once in its configuration lines
    (comments are left alone), so that the two cannot drift apart unseen."""
    replacements = {"bind :80": f"bind 127.0.0.1:{front}",
                    "10.0.0.11:8080": servers[0],
                    "10.0.0.12:8080": servers[1],
                    "/run/haproxy/admin.sock": str(stats),
                    "log /dev/log": "log stderr format raw",
                    "inter 2s": "inter 200ms"}
    found = dict.fromkeys(replacements, 0)
    out = []
    for line in EXAMPLE.read_text().splitlines():
        code, hash_, comment = line.partition("#")
        for old, new in replacements.items():
            found[old] += code.count(old)
            code = code.replace(old, new)
        # Dropping privileges needs them: unless root, haproxy keeps its own.
        if os.geteuid() != 0 and code.split()[:1] in (["chroot"], ["user"],
                                                      ["group"]):
            continue
        out.append(code + hash_ + comment)
    assert all(n == 1 for n in found.values()), (
        f"{EXAMPLE} and this test disagree: each value should be in one"
        f" configuration line: {found}")
    return "\n".join(out) + "\n"


@dataclass
class Instance:
    ferry: Ferry
    name: str      # haproxy's name for it
    address: str   # of its --proxy-protocol listener
    port: int
    log: Path      # its access log, format common

    def requests_logged(self) -> list[str]:
        """Access log lines of requests, haproxy's checks left out."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line for line in lines if CHECK not in line]


@dataclass
class Cluster:
    instances: list[Instance]
    haproxy: HAProxy
    front: int     # haproxy's port on 127.0.0.1

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.front}{path}"

    def fetch(self, path: str, source: str | None = None) -> Response:
        """GET through haproxy on a connection of its own (Connection:
        close), from `source` if given."""
        with socket.create_connection(
                ("127.0.0.1", self.front), 30,
                source_address=(source, 0) if source else None) as sock:
            sock.sendall(build_request(path, close=True))
            return read_response(Reader(sock))

    def serving_the_only_session(self) -> Instance:
        """The instance haproxy gave the one client session open now."""
        def only():
            states = self.haproxy.servers()
            busy = [i for i in self.instances if int(states[i.name]["scur"])]
            return busy[0] if len(busy) == 1 else None
        return wait_until(only, 10, message="one instance with the session")

    def other(self, instance: Instance) -> Instance:
        return next(i for i in self.instances if i is not instance)


def stop_at_once(ferry: Ferry) -> dict[str, int]:
    """SIGTERM, and a second one as soon as the drain began: the graceful
    stop without waiting out --drain-time."""
    os.kill(ferry.pid, signal.SIGTERM)
    wait_until(lambda: "draining for" in ferry.stderr_text(), 10,
               message="the drain to begin")
    os.kill(ferry.pid, signal.SIGTERM)
    return ferry.stop(sig=None)


@pytest.fixture
def cluster(launch, site, tmp_path):
    """Two ferryd serving `site`, and haproxy in front once it has seen
    both UP; at teardown haproxy is stopped, then each ferryd still running
    (with a clean exit, its drain cut short)."""
    instances = []
    for number, address in enumerate(BACKENDS, 1):
        log = tmp_path / f"access-{address}.log"
        ferry = launch(root=site.root, args=[
            "--listen", f"{address}:0", "--proxy-protocol", f"{address}:0",
            "--proxy-protocol-from", f"{HAPROXY_SOURCE}/32",
            "--health-path", "/healthz", "--drain-time", "3s",
            "--access-log", str(log), "--access-log-format", "common"])
        listening = wait_until(
            lambda: re.search(rf"listening on {re.escape(address)}:(\d+)",
                              ferry.stderr_text()),
            10, message=f"ferryd listening on {address}")
        instances.append(Instance(ferry, f"ferry{number}", address,
                                  int(listening.group(1)), log))
    cfg = tmp_path / "haproxy.cfg"
    stats = tmp_path / "haproxy.sock"
    front = free_port()
    cfg.write_text(haproxy_config(
        front, [f"{i.address}:{i.port}" for i in instances], stats))
    haproxy = HAProxy(cfg, stats, tmp_path)
    try:
        for instance in instances:
            haproxy.wait_for(instance.name, "UP", 20)
        yield Cluster(instances, haproxy, front)
    finally:
        haproxy.stop()
    for instance in instances:
        if not instance.ferry.stopped:
            stop_at_once(instance.ferry)


def test_both_access_logs_show_the_clients_addresses(cluster, site):
    curl_client, socket_client = CLIENTS
    for source in (curl_client, socket_client, socket_client, curl_client) * 2:
        if source == curl_client:
            out = subprocess.run(["curl", "-sS", "--fail", "--interface", source,
                                  cluster.url("/hello.txt")],
                                 capture_output=True, timeout=30)
            assert out.returncode == 0 and out.stdout == HELLO, out.stderr
        else:
            resp = cluster.fetch("/small1.bin", source)
            assert resp.status == 200 and resp.body == site.files["/small1.bin"]
    wait_until(lambda: sum(len(i.requests_logged())
                           for i in cluster.instances) == 8,
               10, message="8 requests in the access logs")
    seen = set()
    for instance in cluster.instances:
        lines = instance.requests_logged()
        assert lines, f"roundrobin sent no request to {instance.name}"
        clients = {line.split(" ", 1)[0] for line in lines}
        assert clients <= set(CLIENTS), (instance.name, lines)
        seen |= clients
        # haproxy's own checks (a v2 LOCAL header) keep its address.
        checks = [line for line in instance.log.read_text().splitlines()
                  if CHECK in line]
        assert checks and all(line.startswith(f"{HAPROXY_SOURCE} ")
                              for line in checks), checks
    assert seen == set(CLIENTS)


def test_a_crashed_instance_is_taken_out_and_its_download_resumes(
        cluster, site, tmp_path):
    partial = tmp_path / "big-curl.bin"
    download = subprocess.Popen(
        ["curl", "-sS", "--limit-rate", "16M", "-o", str(partial),
         cluster.url("/big.bin")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        crashed = cluster.serving_the_only_session()
        wait_until(lambda: partial.exists() and
                   partial.stat().st_size >= 4 << 20, 20,
                   message="4 MiB downloaded")
        crashed.ferry.crash()
        _, err = download.communicate(timeout=30)
    finally:
        if download.poll() is None:
            download.kill()
            download.wait()
    assert download.returncode != 0, "the download outlived its instance"
    assert 0 < partial.stat().st_size < BIG, err
    cluster.haproxy.wait_for(crashed.name, "DOWN")
    survivor = cluster.other(crashed)
    assert cluster.haproxy.servers()[survivor.name]["status"] == "UP"
    for name in SMALL:
        resp = cluster.fetch(f"/{name}")
        assert resp.status == 200 and resp.body == site.files[f"/{name}"]

    # Both clients resume the cut file, with a range, from the survivor.
    aria2 = tmp_path / "big-aria2.bin"
    shutil.copyfile(partial, aria2)
    out = subprocess.run(["curl", "-sS", "--fail", "-C", "-", "-o",
                          str(partial), cluster.url("/big.bin")],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(["aria2c", "-q", "-c", "--auto-file-renaming=false",
                          "-d", str(tmp_path), "-o", aria2.name,
                          cluster.url("/big.bin")],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    want = sha256(site.files["/big.bin"])
    assert file_sha256(partial) == want
    assert file_sha256(aria2) == want
    wait_until(lambda: sum('"GET /big.bin HTTP/1.1" 206' in line
                           for line in survivor.requests_logged()) >= 2,
               10, message="the survivor's two 206 answers in its log")


def test_a_drain_under_load_fails_no_request(cluster, site, tmp_path):
    big = tmp_path / "big.bin"
    # Slowed (some 5 s) to last beyond the 3 s drain: the graceful stop
    # after it must let the download finish.
    download = subprocess.Popen(
        ["curl", "-sS", "--fail", "--limit-rate", "10M", "-o", str(big),
         cluster.url("/big.bin")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    drained = cluster.serving_the_only_session()
    small = [f"/{name}" for name in SMALL] + ["/hello.txt"]
    stop = threading.Event()
    lock = threading.Lock()
    served = [0]
    failures = []

    def load(first: int):
        n = first
        # At most some 200 requests a second each: a new connection a
        # request, each leaving a TIME_WAIT, must not run out of ports.
        while not stop.wait(0.005):
            path = small[n % len(small)]
            n += 1
            try:
                resp = cluster.fetch(path)
                failed = (None if resp.status == 200 and resp.body == site.files[path]
                          else f"{resp.status}, {len(resp.body)} bytes")
            except (OSError, EOFError, ValueError) as exc:
                failed = repr(exc)
            with lock:
                served[0] += 1
                if failed:
                    failures.append(f"{path}: {failed}")

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: served[0] >= 40, 20, message="the load under way")
        assert download.poll() is None, "the download ended before the drain"
        signalled = time.monotonic()
        os.kill(drained.ferry.pid, signal.SIGTERM)
        cluster.haproxy.wait_for(drained.name, "DOWN")
        assert drained.ferry.alive(), "taken out only once it had stopped"
        drained.ferry.stop(sig=None, timeout=30)  # asserts exit status 0
        assert time.monotonic() - signalled >= 2.9, "stopped before the drain"
        # The load goes on, on the other instance alone.
        after = served[0]
        wait_until(lambda: served[0] >= after + 40, 20,
                   message="requests after the drained instance stopped")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        try:
            _, err = download.communicate(timeout=60)
        finally:
            if download.poll() is None:
                download.kill()
    assert not failures, f"{len(failures)} of {served[0]} failed: {failures[:10]}"
    assert download.returncode == 0, err
    assert file_sha256(big) == sha256(site.files["/big.bin"])
    log = drained.log.read_text()
    assert f"{CHECK} 503" in log, "no check saw the drain's 503"
    assert '"GET /big.bin HTTP/1.1" 200' in log
    # Each instance had a share of the load.
    for instance in cluster.instances:
        assert sum('"GET /small' in line or '"GET /hello' in line
                   for line in instance.requests_logged()) > 0, instance.name


def test_a_proxy_header_from_elsewhere_is_refused(cluster):
    target = cluster.instances[0]
    header = (f"PROXY TCP4 203.0.113.7 {target.address} 40000 {target.port}"
              "\r\n").encode() + build_request("/hello.txt", close=True)
    # From haproxy's address these bytes are answered; from another, not.
    with socket.create_connection((target.address, target.port), 10,
                                  source_address=(HAPROXY_SOURCE, 0)) as sock:
        sock.sendall(header)
        assert read_response(Reader(sock)).body == HELLO
    with socket.create_connection((target.address, target.port), 10,
                                  source_address=(OUTSIDER, 0)) as sock:
        sock.sendall(header)
        assert closed_unanswered(sock)
    counters = stop_at_once(target.ferry)
    assert counters["rejected"] == 1, counters
    assert "not in --proxy-protocol-from" in target.ferry.stderr_text()
    assert [line.split(" ", 1)[0] for line in target.requests_logged()] == \
        ["203.0.113.7"]
