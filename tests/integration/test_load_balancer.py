"""Behind a load balancer. --proxy-protocol: a listener takes the PROXY
protocol header (v1 and v2) and logs the client it names; only the proxies
of --proxy-protocol-from may connect; a connection without a valid header
is closed unanswered. --health-path: the balancer's check, from memory;
--drain-time: on SIGTERM it says 503 while ferryd serves on, then stops.
--real-ip-from: a trusted proxy names each request's client in
X-Forwarded-For (walked from the right) or X-Real-IP, for the access log.
Real clients: curl --haproxy-protocol and -H 'X-Forwarded-For: ...', and
Debian's haproxy with send-proxy-v2 and option httpchk, or mode http with
option forwardfor, in front of ferryd."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from harness import HELLO, Reader, build_request, closed_unanswered, \
    ferryd_path, read_response, wait_until

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
PROXIED = ["--proxy-protocol", "127.0.0.1:0",
           "--proxy-protocol-from", "127.0.0.0/8"]


def v1(source, destination="127.0.0.1", family="TCP4"):
    return f"PROXY {family} {source} {destination} 40000 8080\r\n".encode()


def v2_tcp6(source, destination="::1"):
    addresses = (socket.inet_pton(socket.AF_INET6, source) +
                 socket.inet_pton(socket.AF_INET6, destination) +
                 (40000).to_bytes(2, "big") + (8080).to_bytes(2, "big"))
    tlv = b"\x04\x00\x03abc"  # a TLV (PP2_TYPE_NOOP) after the addresses
    body = addresses + tlv
    return V2_SIGNATURE + b"\x21\x21" + len(body).to_bytes(2, "big") + body


def v2_local():
    return V2_SIGNATURE + b"\x20\x00" + (0).to_bytes(2, "big")


def clients_logged(log, count):
    def ready():
        if not log.exists():
            return None
        lines = log.read_text().splitlines()
        return lines if len(lines) >= count else None
    lines = wait_until(ready, 10, message=f"{count} access log lines")
    return [line.split(" ", 1)[0] for line in lines]


def test_the_header_names_the_client_in_the_access_log(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=[*PROXIED, "--access-log", str(log),
                         "--access-log-format", "common"])
    # v1, then two requests on the same connection: both the client's.
    with ferry.connect() as sock:
        sock.sendall(v1("203.0.113.7") + build_request("/hello.txt"))
        reader = Reader(sock)
        assert read_response(reader).body == HELLO
        sock.sendall(build_request("/hello.txt"))
        assert read_response(reader).body == HELLO
    # v2 over IPv6 with a TLV, the header split from the request.
    with ferry.connect() as sock:
        header = v2_tcp6("2001:db8::7")
        sock.sendall(header[:9])
        sock.sendall(header[9:])
        sock.sendall(build_request("/hello.txt", close=True))
        assert read_response(Reader(sock)).body == HELLO
    # v2 LOCAL (the proxy's own health check) and v1 UNKNOWN: the
    # connection's address stands.
    with ferry.connect() as sock:
        sock.sendall(v2_local() + build_request("/hello.txt", close=True))
        assert read_response(Reader(sock)).status == 200
    with ferry.connect() as sock:
        sock.sendall(b"PROXY UNKNOWN\r\n" +
                     build_request("/hello.txt", close=True))
        assert read_response(Reader(sock)).status == 200
    assert clients_logged(log, 5) == ["203.0.113.7", "203.0.113.7",
                                      "2001:db8::7", "127.0.0.1",
                                      "127.0.0.1"]


def test_curl_haproxy_protocol_is_served(launch):
    ferry = launch(args=PROXIED)
    out = subprocess.run(["curl", "-sS", "--haproxy-protocol",
                          ferry.url("/hello.txt")],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == HELLO
    # Without the header curl's request is taken for a broken header.
    out = subprocess.run(["curl", "-sS", ferry.url("/hello.txt")],
                         capture_output=True, timeout=30)
    assert out.returncode != 0 and out.stdout == b""


@pytest.mark.parametrize("first_bytes", [
    b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",       # no header
    b"PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n",           # a bad address
    b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 8080\n",    # a bare LF
    V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12),       # version 3
])
def test_a_connection_without_a_valid_header_is_closed_unanswered(
        launch, first_bytes):
    ferry = launch(args=PROXIED)
    with ferry.connect() as sock:
        sock.sendall(first_bytes + build_request("/hello.txt"))
        assert closed_unanswered(sock)
    assert ferry.stop()["aborted"] >= 1


def test_a_proxy_not_allowed_is_closed_and_logged_once(launch):
    ferry = launch(args=["--proxy-protocol", "127.0.0.1:0",
                         "--proxy-protocol-from", "10.0.0.0/8,::1"])
    for _ in range(3):
        with ferry.connect() as sock:
            sock.sendall(v1("203.0.113.7") + build_request("/hello.txt"))
            assert closed_unanswered(sock)
    counters = ferry.stop()
    assert counters["rejected"] == 3 and counters["requests"] == 0
    assert ferry.stderr_text().count("not in --proxy-protocol-from") == 1


def test_a_plain_listener_beside_a_proxied_one_is_unchanged(launch):
    plain = socket.socket()
    plain.bind(("127.0.0.1", 0))
    plain_port = plain.getsockname()[1]
    plain.close()
    ferry = launch(args=[*PROXIED, "--listen", f"127.0.0.2:{plain_port}"])
    with socket.create_connection(("127.0.0.2", plain_port), 10) as sock:
        sock.sendall(build_request("/hello.txt", close=True))
        assert read_response(Reader(sock)).body == HELLO
    with socket.create_connection(("127.0.0.2", plain_port), 10) as sock:
        # A PROXY line where none is expected is no HTTP request.
        sock.sendall(v1("203.0.113.7") + build_request("/hello.txt"))
        assert read_response(Reader(sock)).status == 400


@pytest.mark.parametrize("args, flag", [
    (["--proxy-protocol", "127.0.0.1:0"], "--proxy-protocol-from"),
    (["--proxy-protocol", "example.com:80", "--proxy-protocol-from", "any"],
     "--proxy-protocol"),
    (["--proxy-protocol", "127.0.0.1:0", "--proxy-protocol-from", "10.0.0/8"],
     "--proxy-protocol-from"),
    (["--health-path", "healthz"], "--health-path"),
    (["--health-path", "/health?x"], "--health-path"),
    (["--health-path", "/a/../b"], "--health-path"),
    (["--real-ip-from", "10.0.0/8"], "--real-ip-from"),
    (["--real-ip-from", "10.0.0.0/33"], "--real-ip-from"),
    (["--real-ip-from", ""], "--real-ip-from"),
    (["--real-ip-from", "10.0.0.0/8", "--real-ip-header", "X-Client-IP"],
     "--real-ip-header"),
    (["--real-ip-header", "Forwarded"], "--real-ip-header"),
    (["--real-ip-header", ""], "--real-ip-header"),
])
def test_bad_options_exit_64_naming_the_flag(args, flag, tmp_path):
    out = subprocess.run([ferryd_path(), "--root", str(tmp_path), *args],
                         capture_output=True, timeout=30)
    assert out.returncode == 64, out.stderr
    lines = out.stderr.decode().strip().splitlines()
    # The flag and the value it refuses, not an unknown option.
    assert len(lines) == 1 and f"{flag}: '" in lines[0], lines


def test_an_address_no_listener_has_is_refused_at_start(tmp_path):
    out = subprocess.run([ferryd_path(), "--root", str(tmp_path), "--listen",
                          "127.0.0.1:0", "--proxy-protocol", "127.0.0.3:9",
                          "--proxy-protocol-from", "any"],
                         capture_output=True, timeout=30)
    assert out.returncode != 0
    assert b"--proxy-protocol 127.0.0.3:9: no listener has this address" in \
        out.stderr, out.stderr


# haproxy in mode http from {front} to ferryd's {ferry}: the backend's
# lines follow.
HAPROXY_BASE_CFG = """\
global
    log stderr format raw local0 err
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend front
    bind 127.0.0.1:{front}
    default_backend ferry
backend ferry
"""
HAPROXY_CFG = HAPROXY_BASE_CFG + """\
    option httpchk GET /healthz
    server one 127.0.0.1:{ferry} send-proxy-v2 check check-send-proxy inter 200
"""


@contextlib.contextmanager
def haproxy_in_front(cfg_template, ferry, tmp_path):
    """Debian's haproxy, configured by `cfg_template` (its {front} port and
    {ferry}'s), in front of `ferry`; yields a function that fetches
    /hello.txt through it with curl from 127.0.0.9 (with curl's `extra`
    arguments) and says whether it was served."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    front = probe.getsockname()[1]
    probe.close()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(cfg_template.format(front=front, ferry=ferry.port))
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)

    def served(*extra):
        out = subprocess.run(
            ["curl", "-sS", "--interface", "127.0.0.9", *extra,
             f"http://127.0.0.1:{front}/hello.txt"],
            capture_output=True, timeout=30)
        return out.returncode == 0 and out.stdout == HELLO
    try:
        yield served
    finally:
        haproxy.terminate()
        haproxy.wait(10)


def test_haproxy_send_proxy_v2_logs_the_clients_address(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=[*PROXIED, "--access-log", str(log),
                         "--access-log-format", "common",
                         "--health-path", "/healthz"])
    with haproxy_in_front(HAPROXY_CFG, ferry, tmp_path) as served:
        # haproxy's health check (send-proxy-v2 too) marks the server up.
        wait_until(served, 15, interval=0.1, message="served through haproxy")
    # The client's address (curl bound to 127.0.0.9), never haproxy's.
    lines = wait_until(
        lambda: [line for line in log.read_text().splitlines()
                 if line.startswith("127.0.0.9 ")],
        10, message="the client's address in the access log")
    assert '"GET /hello.txt HTTP/1.1" 200' in lines[-1], lines
    checks = [line for line in log.read_text().splitlines()
              if not line.startswith("127.0.0.9 ")]
    # Only haproxy's health checks came from elsewhere: its own address.
    assert checks, "no health check reached ferryd"
    assert all(line.startswith("127.0.0.1 ") and
               '"GET /healthz HTTP/1.0" 200' in line for line in checks), checks


def test_the_health_path_is_answered_from_memory(launch):
    ferry = launch(args=["--health-path", "/healthz"])
    (ferry.root / "healthz").write_bytes(b"a file of that name\n")
    resp = ferry.get("/healthz")
    assert (resp.status, resp.body) == (200, b"ok\n")
    assert resp.header("cache-control") == "no-store"
    assert resp.header("content-type") == "text/plain"
    head = ferry.get("/healthz?from=lb", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.header("content-length") == "3"
    # Other paths are files as ever; a path below it is no check.
    assert ferry.get("/hello.txt").body == HELLO
    assert ferry.get("/healthz/").status == 404
    assert ferry.stop()["requests"] == 4


def test_sigterm_drains_first_then_stops(launch):
    ferry = launch(args=["--health-path", "/healthz", "--drain-time", "3s"])
    with ferry.connect() as kept:  # a keep-alive client from before
        reader = Reader(kept)
        kept.sendall(build_request("/hello.txt"))
        assert read_response(reader).body == HELLO
        signalled = time.monotonic()
        os.kill(ferry.pid, signal.SIGTERM)
        wait_until(lambda: ferry.get("/healthz").status == 503, 5,
                   message="the health path says 503")
        resp = ferry.get("/healthz")
        assert resp.body == b"draining\n"
        assert resp.header("connection") == "close"
        # Everyone else is served as before: new clients, and old ones.
        assert ferry.get("/hello.txt").body == HELLO
        kept.sendall(build_request("/hello.txt"))
        assert read_response(reader).body == HELLO
    ferry.stop(sig=None)  # then the graceful stop, exit 0
    assert time.monotonic() - signalled >= 2.9, "stopped before the drain ended"
    assert "draining for 3s" in ferry.stderr_text()


def test_a_second_sigterm_ends_the_drain_at_once(launch):
    ferry = launch(args=["--health-path", "/healthz", "--drain-time", "1h"])
    os.kill(ferry.pid, signal.SIGTERM)
    wait_until(lambda: ferry.get("/healthz").status == 503, 5,
               message="the health path says 503")
    ferry.stop()  # well within the harness's stop deadline, not an hour


# --real-ip-from / --real-ip-header

def logged_request(headers=(), path="/hello.txt", close=False):
    """A request with header lines in order (a name may repeat)."""
    lines = [f"GET {path} HTTP/1.1", "Host: ferry.test"]
    lines += [f"{name}: {value}" for name, value in headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def served_in_turn(sock, requests):
    """Sends each request on `sock` once the one before was answered."""
    reader = Reader(sock)
    for request in requests:
        sock.sendall(request)
        assert read_response(reader).body == HELLO


def test_a_trusted_proxy_names_each_requests_client(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=["--real-ip-from", "127.0.0.1,10.0.0.0/8",
                         "--access-log", str(log),
                         "--access-log-format", "common"])
    xff = "X-Forwarded-For"
    with ferry.connect() as sock:  # one balancer connection, many clients
        served_in_turn(sock, [
            # what the client wrote left of its address is not believed
            logged_request([(xff, "198.51.100.1, 203.0.113.7, 10.0.0.2")]),
            logged_request([(xff, "203.0.113.8")]),
            logged_request(),  # no field: the connection's address again
            # all trusted: the leftmost
            logged_request([(xff, "10.0.0.5, 127.0.0.1")]),
            # junk stops the walk at the last trusted address reached
            logged_request([(xff, "203.0.113.7, unknown, 10.0.0.3")]),
            logged_request([(xff, "203.0.113.7, unknown")]),
            # lines are one list in order; spaces, IPv6, ports
            logged_request([(xff, "192.0.2.1, 203.0.113.9"),
                            (xff, " 10.0.0.4\t")]),
            logged_request([(xff, "[2001:db8::7]:51000, 10.0.0.2:443")]),
            logged_request([("X-Real-IP", "203.0.113.99")], close=True),
        ])
    # A request refused as malformed (no Host) is the connection's.
    with ferry.connect() as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\n"
                     b"X-Forwarded-For: 203.0.113.7\r\n\r\n")
        assert read_response(Reader(sock)).status == 400
    assert clients_logged(log, 10) == [
        "203.0.113.7", "203.0.113.8", "127.0.0.1", "10.0.0.5", "10.0.0.3",
        "127.0.0.1", "203.0.113.9", "2001:db8::7", "127.0.0.1", "127.0.0.1"]
    lines = log.read_text().splitlines()
    assert all('"GET /hello.txt HTTP/1.1" 200' in line for line in lines[:9])


def test_an_untrusted_peer_cannot_name_the_client(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=["--real-ip-from", "127.0.0.1/32",
                         "--access-log", str(log),
                         "--access-log-format", "json"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.2", 0))
        sock.settimeout(10)
        sock.connect((ferry.host, ferry.port))
        served_in_turn(sock, [
            logged_request([("X-Forwarded-For", "203.0.113.7")]),
            logged_request([("X-Real-IP", "203.0.113.7")], close=True)])
    with ferry.connect() as sock:  # the trusted one, to see the difference
        served_in_turn(sock, [
            logged_request([("X-Forwarded-For", "203.0.113.7")], close=True)])
    lines = wait_until(lambda: log.exists() and
                       len(log.read_text().splitlines()) >= 3 and
                       log.read_text().splitlines(), 10,
                       message="3 access log lines")
    clients = [json.loads(line)["client"] for line in lines]
    assert clients == ["127.0.0.2", "127.0.0.2", "203.0.113.7"]


def test_a_unix_socket_peer_is_never_trusted(launch, tmp_path):
    log = tmp_path / "access.log"
    path = tmp_path / "ferry.sock"
    ferry = launch(args=["--listen", f"unix:{path}", "--real-ip-from", "any",
                         "--access-log", str(log),
                         "--access-log-format", "combined"])
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        served_in_turn(sock, [
            logged_request([("X-Forwarded-For", "203.0.113.7")], close=True)])
    with ferry.connect() as sock:  # "any" trusts the TCP peer
        served_in_turn(sock, [
            logged_request([("X-Forwarded-For", "203.0.113.7")], close=True)])
    assert clients_logged(log, 2) == ["unix", "203.0.113.7"]


def test_x_real_ip_names_one_client(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=["--real-ip-from", "127.0.0.0/8",
                         "--real-ip-header", "x-real-ip",
                         "--access-log", str(log),
                         "--access-log-format", "common"])
    with ferry.connect() as sock:
        served_in_turn(sock, [
            logged_request([("X-Real-IP", "203.0.113.5")]),
            logged_request([("X-Real-IP", "127.0.0.8:8080")]),  # trusted too
            logged_request([("X-Forwarded-For", "203.0.113.6")]),  # not used
            # two fields, or a list: no single address
            logged_request([("X-Real-IP", "203.0.113.5"),
                            ("X-Real-IP", "203.0.113.6")]),
            logged_request([("X-Real-IP", "203.0.113.5, 203.0.113.6")]),
            logged_request([("x-real-ip", "[2001:db8::5]")], close=True),
        ])
    assert clients_logged(log, 6) == [
        "203.0.113.5", "127.0.0.8", "127.0.0.1", "127.0.0.1", "127.0.0.1",
        "2001:db8::5"]


def test_real_ip_trusts_the_client_the_proxy_header_named(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=[*PROXIED, "--real-ip-from", "203.0.113.0/24,127.0.0.1",
                         "--access-log", str(log),
                         "--access-log-format", "common"])
    xff = ("X-Forwarded-For", "198.51.100.3")
    # The PROXY header names a trusted proxy: its field counts.
    with ferry.connect() as sock:
        sock.sendall(v1("203.0.113.7"))
        served_in_turn(sock, [logged_request([xff]), logged_request()])
    # It names an untrusted client: the field does not count, though the
    # peer (127.0.0.1) is in --real-ip-from.
    with ferry.connect() as sock:
        sock.sendall(v1("192.0.2.50"))
        served_in_turn(sock, [logged_request([xff], close=True)])
    # LOCAL names no one: the peer is the connection's client.
    with ferry.connect() as sock:
        sock.sendall(v2_local())
        served_in_turn(sock, [logged_request([xff], close=True)])
    assert clients_logged(log, 4) == ["198.51.100.3", "203.0.113.7",
                                      "192.0.2.50", "198.51.100.3"]


def test_curl_x_forwarded_for_is_logged(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=["--real-ip-from", "127.0.0.1",
                         "--access-log", str(log),
                         "--access-log-format", "combined"])
    out = subprocess.run(["curl", "-sS", "-H",
                          "X-Forwarded-For: 203.0.113.44, 127.0.0.1",
                          ferry.url("/hello.txt")],
                         capture_output=True, timeout=30)
    assert out.returncode == 0 and out.stdout == HELLO, out.stderr
    [line] = wait_until(lambda: log.exists() and log.read_text().splitlines(),
                        10, message="the access log line")
    assert line.startswith("203.0.113.44 - - [") and "curl/" in line, line


HAPROXY_FORWARDFOR_CFG = HAPROXY_BASE_CFG + """\
    option forwardfor
    server one 127.0.0.1:{ferry}
"""


def test_haproxy_forwardfor_logs_the_clients_address(launch, tmp_path):
    log = tmp_path / "access.log"
    ferry = launch(args=["--real-ip-from", "127.0.0.1/32",
                         "--access-log", str(log),
                         "--access-log-format", "common"])
    with haproxy_in_front(HAPROXY_FORWARDFOR_CFG, ferry, tmp_path) as served:
        wait_until(served, 15, interval=0.1, message="served through haproxy")
        # A client's own X-Forwarded-For is left of the address haproxy
        # appends, which is not trusted: not believed.
        assert served("-H", "X-Forwarded-For: 192.0.2.66")
    lines = wait_until(
        lambda: [line for line in log.read_text().splitlines()
                 if line.startswith("127.0.0.9 ")],
        10, message="the client's address in the access log")
    assert '"GET /hello.txt HTTP/1.1" 200' in lines[-1], lines
    # Every request came through haproxy: none logged as haproxy's own
    # address or the forged one.
    assert all(line.startswith("127.0.0.9 ")
               for line in log.read_text().splitlines())
