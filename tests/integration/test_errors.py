"""Malformed and forbidden requests: precise statuses, no crash, no hang, no escape.

Framing errors (400/414/431/501/505/405) must close the connection after the
response; the daemon's teardown check (exit 0, sanitizer-clean) runs last.
"""

import socket
import time

import pytest

from harness import (HELLO, INDEX_HTML, SECRET_MARKER, Reader, build_request,
                     read_response)

CLOSE_DEADLINE = 5.0


@pytest.fixture(scope="module")
def server(module_launch):
    return module_launch()


def exchange(server, raw: bytes, method="GET", timeout=10.0):
    """Sends raw bytes, reads one response, then reports whether the peer closed."""
    with server.connect(timeout) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may answer and close before reading everything
        reader = Reader(sock)
        resp = read_response(reader, method)
        closed = reader.at_eof(CLOSE_DEADLINE)
    return resp, closed


def assert_error_and_close(server, raw, status):
    resp, closed = exchange(server, raw)
    assert resp.status == status, (resp.status, resp.raw_head, raw[:200])
    assert resp.header("server") == "ferry"
    assert closed, f"connection left open after {status}"
    return resp


BAD_400 = {
    "garbage request line": b"GARBAGE\r\n\r\n",
    "method only": b"GET\r\nHost: x\r\n\r\n",
    "no version": b"GET /hello.txt\r\nHost: x\r\n\r\n",
    "double space": b"GET  /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad version token": b"GET /hello.txt HTTX/1.1\r\nHost: x\r\n\r\n",
    "bare CR in header": b"GET /hello.txt HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
    "bare CR in request line": b"GET /hello.txt\rHTTP/1.1\r\nHost: x\r\n\r\n",
    "obs-fold": b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n",
    "header without colon": b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
    "space before colon": b"GET /hello.txt HTTP/1.1\r\nHost : x\r\n\r\n",
    "missing Host on 1.1": b"GET /hello.txt HTTP/1.1\r\nAccept: */*\r\n\r\n",
    "two Hosts": b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "body with Content-Length: 5":
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "negative Content-Length": b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "CL + TE": (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "control char in target": b"GET /hel\x01lo.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad percent escape": b"GET /hello%zz.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "truncated percent escape": b"GET /hello.txt% HTTP/1.1\r\nHost: x\r\n\r\n",
    "half percent escape": b"GET /hello.tx%7 HTTP/1.1\r\nHost: x\r\n\r\n",
    "relative target": b"GET hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("name", list(BAD_400))
def test_400(server, name):
    """Malformed requests get 400 and the connection is closed."""
    assert_error_and_close(server, BAD_400[name], 400)


def test_content_length_zero_accepted(server):
    """Content-Length: 0 on a GET is fine."""
    resp = server.request(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    assert resp.status == 200 and resp.body == HELLO


def test_leading_empty_line_ignored(server):
    """RFC 9112 2.2: an empty line before the request line is ignored."""
    resp = server.request(b"\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
    assert resp.status == 200 and resp.body == HELLO


def test_http10_without_host_accepted(server):
    """HTTP/1.0 needs no Host."""
    resp = server.request(b"GET /hello.txt HTTP/1.0\r\n\r\n")
    assert resp.status == 200 and resp.body == HELLO


def test_smuggled_request_not_served(server):
    """A body after Content-Length: N is never parsed as a second request."""
    smuggled = build_request("/hello.txt")
    raw = (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
           % len(smuggled)) + smuggled
    with server.connect() as sock:
        sock.sendall(raw)
        data = Reader(sock).read_to_eof()
    assert data.startswith(b"HTTP/1.1 400"), data[:100]
    assert data.count(b"HTTP/1.") == 1, "smuggled request was answered"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_405_with_allow(server, method):
    """Methods other than GET/HEAD/OPTIONS: 405 with Allow, connection closed."""
    resp = assert_error_and_close(server, build_request("/hello.txt", method), 405)
    assert resp.header("allow") == "GET, HEAD, OPTIONS"


def test_414_uri_too_long(server):
    """A request line over --max-request-line (8192 by default) gets 414."""
    raw = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert_error_and_close(server, raw, 414)


def test_431_header_bytes(server):
    """Header section over --max-header-bytes (16384) gets 431."""
    raw = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n"
    assert_error_and_close(server, raw, 431)


def test_431_header_count(server):
    """More than --max-headers (100) header fields gets 431."""
    raw = (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n" +
           b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n")
    assert_error_and_close(server, raw, 431)


def test_many_headers_under_limit_ok(server):
    """99 small headers are fine."""
    raw = (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
           b"".join(b"X-H%d: v\r\n" % i for i in range(97)) + b"\r\n")
    resp = server.request(raw)
    assert resp.status == 200 and resp.body == HELLO


@pytest.mark.parametrize("te", ["chunked", "gzip, chunked", "identity"])
def test_501_transfer_encoding(server, te):
    """Any Transfer-Encoding on a GET gets 501 and the connection is closed."""
    raw = (f"GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n"
           "0\r\n\r\n").encode()
    assert_error_and_close(server, raw, 501)


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/3.0", "HTTP/9.9"])
def test_505_version(server, version):
    """Unknown major versions get 505."""
    raw = f"GET /hello.txt {version}\r\nHost: x\r\n\r\n".encode()
    assert_error_and_close(server, raw, 505)


@pytest.mark.parametrize("version", ["HTTP/1.2", "HTTP/1.9"])
def test_higher_minor_version_served_as_http11(server, version):
    """RFC 9110 2.5: a higher minor version of HTTP/1 is processed as 1.1, the
    highest ferryd conforms to, and answered as HTTP/1.1 (persistent too)."""
    with server.connect() as sock:
        sock.sendall(f"GET /hello.txt {version}\r\nHost: x\r\n\r\n"
                     f"GET /hello.txt {version}\r\nHost: x\r\n"
                     "Connection: close\r\n\r\n".encode())
        reader = Reader(sock)
        for _ in range(2):
            resp = read_response(reader)
            assert resp.status == 200 and resp.body == HELLO, resp.raw_head
            assert resp.version == "HTTP/1.1"


BAD_HOSTS = ["a b", "a/b", "a, b", "[::1", "", "::1]", "h:8x", "u@h", "a%zz"]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_invalid_host_400(server, host):
    """RFC 9112 3.2: a Host that is no uri-host [":" port] (or is empty) is 400."""
    raw = f"GET /hello.txt HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    assert_error_and_close(server, raw, 400)


@pytest.mark.parametrize("authority", ["a%zz", "[::1", "h:8x", "[::1]x"])
def test_invalid_absolute_form_authority_400(server, authority):
    """The authority of an absolute-form target is judged as Host is."""
    raw = (f"GET http://{authority}/hello.txt HTTP/1.1\r\n"
           "Host: x\r\n\r\n").encode()
    assert_error_and_close(server, raw, 400)


@pytest.mark.parametrize("host", ["[::1]:8080", "127.0.0.1", "ferry.test:80"])
def test_valid_hosts_served(server, host):
    """Hosts of every valid form are served."""
    resp = server.request(f"GET /hello.txt HTTP/1.1\r\nHost: {host}\r\n"
                          "Connection: close\r\n\r\n".encode())
    assert resp.status == 200 and resp.body == HELLO


BAD_FRAMING = {
    "CL + TE": ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400),
    "invalid CL": ("Content-Length: abc\r\n", 400),
    "negative CL": ("Content-Length: -1\r\n", 400),
    "two CLs": ("Content-Length: 5\r\nContent-Length: 5\r\n", 400),
    "TE": ("Transfer-Encoding: chunked\r\n", 501),
}


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("name", list(BAD_FRAMING))
def test_bad_framing_judged_before_405(server, method, name):
    """Other methods' framing is judged as GET's is: 400 or 501 before 405,
    and the connection closes (request smuggling)."""
    fields, status = BAD_FRAMING[name]
    raw = (f"{method} /hello.txt HTTP/1.1\r\nHost: x\r\n{fields}\r\n"
           "hello").encode()
    assert_error_and_close(server, raw, status)


def test_content_length_with_leading_zeros_accepted(server):
    """Content-Length: 00 is 1*DIGIT and zero: a GET carrying it is served."""
    resp = server.request(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 00\r\nConnection: close\r\n\r\n")
    assert resp.status == 200 and resp.body == HELLO


def test_404_keeps_connection(server):
    """404 for a missing file; the connection stays usable (pipelined follow-up)."""
    with server.connect() as sock:
        sock.sendall(build_request("/no-such-file") +
                     build_request("/missing/dir/file.txt") +
                     build_request("/hello.txt", close=True))
        reader = Reader(sock)
        assert read_response(reader).status == 404
        assert read_response(reader).status == 404
        last = read_response(reader)
    assert last.status == 200 and last.body == HELLO


@pytest.mark.parametrize("path", ["/.hidden", "/.git/config", "/dir/.secret",
                                  "/%2ehidden", "/.git/", "/.git"])
def test_403_dotfiles(server, path):
    """Any path segment starting with '.' is refused with 403."""
    resp = server.get(path)
    assert resp.status == 403, (path, resp.status)
    assert b"hidden dotfile" not in resp.body and b"[core]" not in resp.body


def test_dotfiles_allowed_with_flag(launch):
    """--allow-dotfiles serves them."""
    ferry = launch(args=["--allow-dotfiles"])
    resp = ferry.get("/.hidden")
    assert resp.status == 200 and resp.body == b"hidden dotfile\n"
    assert ferry.get("/dir/.secret").body == b"dot in dir\n"


def test_403_fifo_does_not_hang(server):
    """A FIFO in the tree gets 403 within 2 s (opening it must not block)."""
    start = time.monotonic()
    resp = server.get("/fifo", timeout=2.0)
    assert resp.status == 403
    assert time.monotonic() - start < 2.0
    # ...and the worker is still responsive afterwards.
    assert server.get("/hello.txt", timeout=2.0).body == HELLO


def test_fifo_does_not_stall_other_clients(server):
    """While a FIFO request is answered, a concurrent request is served too."""
    with server.connect(2.0) as a, server.connect(2.0) as b:
        a.sendall(build_request("/fifo"))
        b.sendall(build_request("/hello.txt"))
        assert read_response(Reader(b)).body == HELLO
        assert read_response(Reader(a)).status == 403


def test_403_device(server):
    """A character device in the tree gets 403."""
    if not (server.root / "dev-null").exists():
        pytest.skip("creating a device node needs root (mknod)")
    resp = server.get("/dev-null", timeout=2.0)
    assert resp.status == 403


def test_301_directory_without_slash(server):
    """/dir gets 301 to /dir/."""
    resp = server.get("/dir")
    assert resp.status == 301
    location = resp.header("location") or ""
    assert location == "/dir/" or location.endswith(f":{server.port}/dir/"), location


def test_directory_index(server):
    """/dir/ serves dir/index.html."""
    resp = server.get("/dir/")
    assert resp.status == 200 and resp.body == INDEX_HTML
    assert (resp.header("content-type") or "").startswith("text/html")


def test_directory_without_index_403(server):
    """/noindex/ has no index.html: 403, no listing."""
    resp = server.get("/noindex/")
    assert resp.status == 403
    assert b"file.txt" not in resp.body


def test_percent_encoded_name(server):
    """/with%20space.txt is decoded once and served."""
    resp = server.get("/with%20space.txt")
    assert resp.status == 200 and resp.body == b"spaced\n"


def test_query_string_ignored(server):
    """A query string does not change which file is served."""
    resp = server.get("/hello.txt?v=1&x=%2e%2e")
    assert resp.status == 200 and resp.body == HELLO


def test_head_error_has_no_body(server):
    """HEAD of a missing file: 404 and no body (the next response parses)."""
    with server.connect() as sock:
        sock.sendall(build_request("/nope", "HEAD") + build_request("/hello.txt", close=True))
        reader = Reader(sock)
        assert read_response(reader, "HEAD").status == 404
        assert read_response(reader).body == HELLO


def test_absolute_form_target(server):
    """The absolute-form request target is accepted."""
    resp = server.get("http://ferry.test/hello.txt")
    assert resp.status == 200 and resp.body == HELLO


def test_symlink_inside_root_served(server):
    """A symlink to a file inside the root is served."""
    resp = server.get("/link-in")
    assert resp.status == 200 and resp.body == HELLO


@pytest.mark.parametrize("path", ["/link-out", "/link-abs", "/link-sibling"])
def test_symlink_out_of_root_404(server, path):
    """Symlinks that leave the root (relative, absolute, into a prefix-named sibling): 404."""
    resp = server.get(path)
    assert resp.status == 404, (path, resp.status)
    assert SECRET_MARKER not in resp.body


TRAVERSALS = [
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/dir/../../secret.txt",
    "/dir/%2e%2e/%2e%2e/secret.txt",
    "/./../secret.txt",
    "/a/b/../../../secret.txt",
    "/../root-sibling/secret.txt",
    "//etc/passwd",
    "/../../../../../../../../etc/passwd",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/..\\secret.txt",
    "/..%5csecret.txt",
    "/%5c..%5csecret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/%c0%ae%c0%ae%c0%afsecret.txt",
    "/%e0%80%ae%e0%80%ae/secret.txt",
    "/..%00/secret.txt",
    "/secret.txt%00",
    "/hello.txt%00.html",
    "/..;/secret.txt",
    "/....//secret.txt",
    "http://x/../secret.txt",
    "http://x/%2e%2e/secret.txt",
    "/%2fetc%2fpasswd",
    "/..",
    "/dir/..%2f..%2fsecret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_refused(server, path):
    """Escape attempts never reveal the secret outside the root; status 400/403/404."""
    resp, _ = exchange(server, build_request(path, close=True))
    assert SECRET_MARKER not in resp.body, f"{path} leaked the secret"
    assert b"root:x:0:0" not in resp.body, f"{path} leaked /etc/passwd"
    assert resp.status in (400, 403, 404), (path, resp.status)


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt",
                                  "/%2e%2e%2fsecret.txt", "/dir/../../secret.txt",
                                  "http://x/../secret.txt"])
def test_dotdot_escape_is_400(server, path):
    """'..' that climbs above the root (after one decoding) is 400."""
    assert server.get(path).status == 400


@pytest.mark.parametrize("path", ["/%00", "/hello.txt%00", "/a%00b/c.txt"])
def test_nul_is_400(server, path):
    """%00 anywhere in the path is 400."""
    assert server.get(path).status == 400


def test_double_encoding_decoded_once(server):
    """%252e%252e decodes once to the literal name '%2e%2e': 404, not an escape."""
    assert server.get("/%252e%252e/secret.txt").status == 404


def test_server_survives_error_barrage(server):
    """After all of the above in one go, the daemon still serves."""
    for raw in BAD_400.values():
        with socket.create_connection((server.host, server.port), 5) as sock:
            try:
                sock.sendall(raw)
                sock.recv(1 << 16)
            except OSError:
                pass
    assert server.get("/hello.txt").body == HELLO
