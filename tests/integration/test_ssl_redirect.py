"""--ssl-redirect: a plain listener answers with a redirect to HTTPS (issue 17).

With the flag, a request to the plain (--listen) listener gets 301 (GET,
HEAD) or 308 (any other method, which keeps it) with
Location: https://HOST[:PORT]/target, HOST the request's Host without its
port, PORT the first --ssl listener's, the target as sent. curl follows it
to the TLS listener and gets the file byte-exact. Requests under
/.well-known/acme-challenge/ (certbot --webroot renewals) and --health-path
are still served over plain HTTP; the TLS listener is not affected. A
request without a usable Host gets 400, as ferry answers one everywhere.
The flag without an --ssl listener stops the start in one line naming it.

Why 308 before 405 for a method ferry does not serve: the plain listener
serves nothing but redirects, so whether a method is allowed is the HTTPS
side's answer (nginx's `return 301 https://...` runs before any method check
too); the framing errors (400, 501) still come first, as for every request.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from harness import (HELLO, Reader, build_request, free_port,
                     make_certificates, read_response, run_refused, tls_args,
                     wait_until, write_random)

ACME_TOKEN = b"token-body.thumbprint\n"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls") / "certs")


def make_root(base) -> dict:
    root = base / "root"
    (root / "dir name").mkdir(parents=True)
    (root / ".well-known" / "acme-challenge").mkdir(parents=True)
    (root / "hello.txt").write_bytes(HELLO)
    (root / ".well-known" / "acme-challenge" / "tok_EN-1").write_bytes(
        ACME_TOKEN)
    data = write_random(root / "dir name" / "data.bin", 300 * 1024 + 7, seed=17)
    return {"root": root, "data": data}


@pytest.fixture(scope="module")
def server(module_launch, tmp_path_factory, certs):
    base = tmp_path_factory.mktemp("redirect")
    tree = make_root(base)
    port = free_port()
    log = base / "access.log"
    ferry = module_launch(root=tree["root"], workers=2, args=[
        *tls_args(port, certs), "--ssl-redirect", "--health-path", "/healthz",
        "--access-log", str(log)])
    ferry.tls_port, ferry.certs, ferry.data = port, certs, tree["data"]
    ferry.access_log = log
    return ferry


def plain_url(server, target: str) -> str:
    return f"http://127.0.0.1:{server.port}{target}"


def https_base(server) -> str:
    return f"https://127.0.0.1:{server.tls_port}"


def curl(*args: str) -> tuple[int, dict[str, str], bytes]:
    """curl without -L: the status, fields (lower-case names) and body of
    the one response."""
    done = subprocess.run(["curl", "-sS", "-D", "-", *args],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), fields, body


def raw(server, request: bytes, method: str = "GET"):
    """One request on a fresh connection to the plain listener: the
    response, and whether the server closed the connection after it (a
    keep-alive one is given a moment to say so)."""
    with server.connect() as sock:
        sock.sendall(request)
        reader = Reader(sock)
        response = read_response(reader, method)
        keep = response.header("connection") == "keep-alive"
        return response, reader.at_eof(0.3 if keep else 5.0)


# -- the redirect -------------------------------------------------------------

def test_get_is_301_to_the_same_url_over_https(server):
    target = "/dir%20name/data.bin?x=1&y=%2F&z=%C3%A9"
    status, fields, body = curl(plain_url(server, target))
    assert status == 301
    assert fields["location"] == https_base(server) + target
    assert fields["content-length"] == str(len(body))
    assert b"301 Moved Permanently" in body
    assert fields["content-type"] == "text/html"


def test_curl_follows_to_the_tls_listener_byte_exact(server):
    done = subprocess.run(
        ["curl", "-sS", "-L", "--cacert", str(server.certs["ca"]),
         "-w", "%{url_effective} %{num_redirects}", "-o", "-",
         plain_url(server, "/dir%20name/data.bin?q=1")],
        capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    body, _, trailer = done.stdout.rpartition(b"https://")
    assert body == server.data
    assert (b"https://" + trailer).decode() == \
        f"{https_base(server)}/dir%20name/data.bin?q=1 1"


def test_head_is_301_without_a_body(server):
    response, _ = raw(server, build_request("/hello.txt", "HEAD", host="a.test"),
                      "HEAD")
    assert response.status == 301
    assert response.header("location") == \
        f"https://a.test:{server.tls_port}/hello.txt"
    assert int(response.header("content-length")) > 0
    assert response.body == b""


def test_keep_alive_as_usual(server):
    with server.connect() as sock:
        reader = Reader(sock)
        for target in ("/a", "/b?c"):
            sock.sendall(build_request(target, host="h.test:8080"))
            response = read_response(reader)
            assert response.status == 301
            assert response.header("location") == \
                f"https://h.test:{server.tls_port}{target}"
            assert response.header("connection") == "keep-alive"
        sock.sendall(build_request("/c", close=True))
        assert read_response(reader).status == 301
        assert reader.at_eof(2.0)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "BREW"])
def test_other_methods_get_308_which_keeps_them(server, method):
    """A method ferry does not serve is redirected, not refused: the HTTPS
    side answers it (405 there). Its body is not read: the connection
    closes."""
    request = (f"{method} /form?a=1 HTTP/1.1\r\nHost: h.test\r\n"
               "Content-Length: 5\r\n\r\nhello").encode()
    response, closed = raw(server, request)
    assert response.status == 308
    assert response.reason == "Permanent Redirect"
    assert response.header("location") == \
        f"https://h.test:{server.tls_port}/form?a=1"
    assert closed


def test_curl_post_follows_with_its_method(server):
    status, fields, _ = curl("-X", "POST", "-d", "x=1",
                             plain_url(server, "/hello.txt"))
    assert status == 308
    assert fields["location"] == f"{https_base(server)}/hello.txt"
    # Followed, the POST reaches the HTTPS listener, which refuses it.
    done = subprocess.run(
        ["curl", "-sS", "-L", "--cacert", str(server.certs["ca"]), "-X",
         "POST", "-d", "x=1", "-o", "/dev/null", "-w",
         "%{http_code} %{url_effective}", plain_url(server, "/hello.txt")],
        capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"405 {https_base(server)}/hello.txt"


def test_options_gets_308_but_options_asterisk_is_answered(server):
    response, closed = raw(server, build_request("/hello.txt", "OPTIONS"))
    assert response.status == 308 and not closed
    response, _ = raw(server, build_request("*", "OPTIONS"))
    assert response.status == 204


def test_absolute_form_target_names_the_host(server):
    response, _ = raw(server, build_request("http://other.test:81/x?y",
                                            host="ignored.test"))
    assert response.status == 301
    assert response.header("location") == \
        f"https://other.test:{server.tls_port}/x?y"


def test_ipv6_literal_host_keeps_its_brackets(server):
    response, _ = raw(server, build_request("/x", host="[::1]:8080"))
    assert response.header("location") == f"https://[::1]:{server.tls_port}/x"


# -- what is still served -----------------------------------------------------

def test_acme_challenge_is_served_over_plain_http(server):
    status, fields, body = curl(
        plain_url(server, "/.well-known/acme-challenge/tok_EN-1"))
    assert status == 200 and body == ACME_TOKEN
    status, _, _ = curl(plain_url(server, "/.well-known/acme-challenge/none"))
    assert status == 404
    # Served as usual: a method ferry does not serve is 405 there.
    response, _ = raw(server, build_request(
        "/.well-known/acme-challenge/tok_EN-1", "POST"))
    assert response.status == 405


def test_a_path_that_only_looks_like_acme_is_redirected(server):
    for target in ("/.well-known/acme-challenge/../../hello.txt",
                   "/.well-known/acme-challenge", "/x/.well-known/acme-challenge/t"):
        response, _ = raw(server, build_request(target))
        assert response.status == 301, target
        assert response.header("location") == \
            f"https://ferry.test:{server.tls_port}{target}"


def test_health_path_is_answered_over_plain_http(server):
    response, _ = raw(server, build_request("/healthz"))
    assert response.status == 200 and response.body == b"ok\n"


def test_tls_listener_is_not_affected(server):
    status, fields, body = curl("--cacert", str(server.certs["ca"]),
                                f"{https_base(server)}/hello.txt")
    assert status == 200 and body == HELLO


# -- bad hosts ----------------------------------------------------------------

@pytest.mark.parametrize("request_bytes", [
    b"GET /x HTTP/1.1\r\n\r\n",                               # no Host
    b"GET /x HTTP/1.0\r\n\r\n",                               # none to name
    b"GET /x HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: evil.test\rLocation: x\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: user@h\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: h:80x\r\n\r\n",
    b"POST /x HTTP/1.1\r\n\r\n",
])
def test_a_missing_or_malformed_host_is_400(server, request_bytes):
    response, closed = raw(server, request_bytes)
    assert response.status == 400
    assert response.header("location") is None
    assert closed


# -- observability ------------------------------------------------------------

def test_logged_as_any_3xx(server):
    raw(server, build_request("/logged-redirect?k=v"))
    raw(server, build_request("/logged-post", "POST"))
    wait_until(lambda: b"/logged-post" in server.access_log.read_bytes(), 10,
               message="the access log lines")
    log = server.access_log.read_text()
    assert '"GET /logged-redirect?k=v HTTP/1.1" 301 ' in log, log
    assert '"POST /logged-post HTTP/1.1" 308 ' in log, log


def test_counted_as_3xx(launch, tmp_path, certs):
    port = free_port()
    ferry = launch(root=make_root(tmp_path)["root"],
                   args=[*tls_args(port, certs), "--ssl-redirect"])
    for _ in range(3):
        assert ferry.get("/hello.txt").status == 301
    assert ferry.get("/.well-known/acme-challenge/tok_EN-1").status == 200
    counters = ferry.stop()
    assert counters["responses_3xx"] == 3, counters
    assert counters["requests"] == 4, counters


# -- start-up and reload ------------------------------------------------------

def test_without_ssl_listener_it_fails_at_start_naming_the_flag(tmp_path, certs):
    port = free_port()
    line = run_refused(tmp_path, ["--listen", f"127.0.0.1:{port}",
                                  "--ssl-redirect"])
    assert line.startswith("ferryd: --ssl-redirect: "), line
    assert "--ssl" in line.removeprefix("ferryd: --ssl-redirect: "), line
    config = tmp_path / "ferryd.conf"
    config.write_text(f"listen = 127.0.0.1:{port}\nssl-redirect = true\n")
    line = run_refused(tmp_path, ["--config", str(config)])
    assert "ssl-redirect" in line and "ferryd.conf" in line, line
    # A unix socket is no URL to send a browser to.
    sock = tmp_path / "tls.sock"
    line = run_refused(tmp_path, [
        "--listen", f"unix:{sock}", "--ssl", f"unix:{sock}",
        "--ssl-certificate", str(certs["cert"]),
        "--ssl-certificate-key", str(certs["key"]), "--ssl-redirect"])
    assert line.startswith("ferryd: --ssl-redirect: "), line


def test_ssl_listener_on_port_zero_redirects_to_the_port_it_got(launch, tmp_path,
                                                                certs):
    ferry = launch(root=make_root(tmp_path)["root"], args=[
        "--listen", "127.0.0.2:0", "--ssl", "127.0.0.2:0",
        "--ssl-certificate", str(certs["cert"]),
        "--ssl-certificate-key", str(certs["key"]), "--ssl-redirect"])
    text = ferry.stderr_text()
    tls_port = int(text.split("listening on 127.0.0.2:")[1].split()[0])
    assert tls_port != 0
    response = ferry.get("/hello.txt")
    assert response.status == 301
    assert response.header("location") == \
        f"https://ferry.test:{tls_port}/hello.txt"


def test_reload_applies_it(launch, tmp_path, certs):
    port = free_port()
    config = tmp_path / "ferryd.conf"
    config.write_text("ssl-redirect = false\n")
    ferry = launch(root=make_root(tmp_path)["root"], args=[
        *tls_args(port, certs), "--config", str(config)])
    assert ferry.get("/hello.txt").body == HELLO
    config.write_text("ssl-redirect = true\n")
    os.kill(ferry.pid, signal.SIGHUP)
    wait_until(lambda: b"reloaded the configuration" in
               ferry.stderr_path.read_bytes(), 15, message="the reload")

    def redirected():
        response = ferry.get("/hello.txt")
        return response if response.status == 301 else None
    response = wait_until(redirected, 10, message="the new workers' redirect")
    assert response.header("location") == \
        f"https://ferry.test:{port}/hello.txt"
