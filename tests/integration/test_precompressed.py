"""Precompressed variants (--precompressed): NAME.br, NAME.zst, NAME.gz
served beside NAME to clients whose Accept-Encoding takes them, with real
clients (curl --compressed, wget) and raw requests for the HTTP details
(Vary, validators, ranges, conditionals, q=0, refusals, staleness, the
small-file cache)."""

import gzip
import os
import subprocess

import brotli
import pytest

APP = b"".join(b"function f%d() { return %d; }\n" % (i, i * i)
               for i in range(3000))
STYLE = b"body { color: #333; }\n" * 500
OLD = b"let fresh = true;\n" * 200
SECRET = b"SECRET=1\n"


def write(path, data, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c"], input=data, check=True,
                          capture_output=True).stdout


@pytest.fixture(scope="module")
def site(module_launch, tmp_path_factory):
    root = tmp_path_factory.mktemp("pre") / "root"
    t = 1_700_000_000
    write(root / "app.js", APP, t)
    write(root / "app.js.br", brotli.compress(APP), t + 1)
    write(root / "app.js.zst", zstd(APP), t + 1)
    write(root / "app.js.gz", gzip.compress(APP), t + 1)
    write(root / "style.css", STYLE, t)
    write(root / "style.css.gz", gzip.compress(STYLE), t)  # same mtime: fine
    # A stale variant: older than its original.
    write(root / "old.js", OLD, t + 100)
    write(root / "old.js.gz", gzip.compress(b"let fresh = false;\n"), t)
    write(root / "orphan.js.gz", gzip.compress(b"no original\n"), t)
    write(root / ".env", SECRET, t)
    write(root / ".env.gz", gzip.compress(SECRET), t)
    write(root / ".private" / "a.txt", b"private\n", t)
    write(root / ".private" / "a.txt.gz", gzip.compress(b"private\n"), t)
    write(root / "dir.js", b"dir\n", t)
    (root / "dir.js.br").mkdir()  # not a regular file: skipped
    write(root / "dir.js.gz", gzip.compress(b"dir\n"), t + 1)
    return module_launch(root=root, args=["--precompressed", "br,zstd,gzip"])


def curl(*args):
    return subprocess.run(["curl", "-sS", "--http1.1", *args],
                          capture_output=True, timeout=30)


def headers_of(text):
    """Lower-case header name -> value of the last response in curl -D/wget
    -S output."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("HTTP/"):
            out = {"status": line.split()[1]}
        elif ":" in line:
            name, _, value = line.partition(":")
            out[name.strip().lower()] = value.strip()
    return out


def test_curl_compressed_gets_brotli_decoded_byte_exact(site, tmp_path):
    head = tmp_path / "head"
    out = curl("--compressed", "-D", str(head), site.url("/app.js"))
    assert out.returncode == 0, out.stderr
    assert out.stdout == APP
    h = headers_of(head.read_text())
    assert h["content-encoding"] == "br"
    assert h["vary"] == "Accept-Encoding"
    assert h["content-type"].startswith(("application/javascript",
                                         "text/javascript"))
    assert int(h["content-length"]) == len(brotli.compress(APP))


def test_curl_compressed_gets_gzip_where_only_gzip_exists(site, tmp_path):
    head = tmp_path / "head"
    out = curl("--compressed", "-D", str(head), site.url("/style.css"))
    assert out.returncode == 0 and out.stdout == STYLE
    h = headers_of(head.read_text())
    assert h["content-encoding"] == "gzip"
    assert h["content-type"].startswith("text/css")


def test_wget_gets_the_right_bytes(site, tmp_path):
    # wget sends "Accept-Encoding: identity" by default: the original.
    plain = tmp_path / "plain.js"
    out = subprocess.run(["wget", "-q", "-S", "-O", str(plain),
                          site.url("/app.js")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert plain.read_bytes() == APP
    h = headers_of(out.stderr)
    assert "content-encoding" not in h
    assert h["vary"] == "Accept-Encoding"
    # With --compression=auto it asks for gzip and decodes it.
    decoded = tmp_path / "decoded.css"
    out = subprocess.run(["wget", "-q", "-S", "--compression=auto", "-O",
                          str(decoded), site.url("/style.css")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert headers_of(out.stderr)["content-encoding"] == "gzip"
    assert decoded.read_bytes() == STYLE


def test_each_coding_serves_its_own_file(site):
    root = site.root
    for accept, name, coding in (("zstd", "app.js.zst", "zstd"),
                                 ("gzip", "app.js.gz", "gzip"),
                                 ("br", "app.js.br", "br"),
                                 ("x-gzip", "app.js.gz", "gzip")):
        resp = site.get("/app.js", {"Accept-Encoding": accept})
        assert resp.status == 200, accept
        assert resp.body == (root / name).read_bytes(), accept
        assert resp.header("content-encoding") == coding
        assert resp.header("vary") == "Accept-Encoding"


def test_q_values_then_the_configured_order(site):
    def coding(accept):
        return site.get("/app.js", {"Accept-Encoding": accept}).header(
            "content-encoding")
    assert coding("gzip, deflate, br, zstd") == "br"  # ties: our order
    assert coding("br;q=0.5, gzip;q=0.9") == "gzip"
    assert coding("br;q=0, gzip") == "gzip"  # q=0 refuses
    assert coding("*;q=0") is None
    assert coding("*, br;q=0, zstd;q=0") == "gzip"
    assert coding("gzip;q=0.5, identity") is None
    assert coding("GZIP;Q=1") == "gzip"
    assert coding("gzip;q=nonsense, zstd") == "zstd"  # malformed: ignored
    assert coding("identity") is None
    resp = site.get("/style.css", {"Accept-Encoding": "br, gzip;q=0"})
    assert resp.header("content-encoding") is None and resp.body == STYLE


def test_identity_and_head_carry_vary(site):
    resp = site.get("/app.js")
    assert resp.status == 200 and resp.body == APP
    assert resp.header("vary") == "Accept-Encoding"
    assert resp.header("content-encoding") is None
    head = site.get("/app.js", {"Accept-Encoding": "br"}, method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.header("content-encoding") == "br"
    assert head.header("vary") == "Accept-Encoding"
    assert int(head.header("content-length")) == len(
        (site.root / "app.js.br").read_bytes())


def test_a_range_of_a_variant_is_of_its_bytes(site):
    br = (site.root / "app.js.br").read_bytes()
    resp = site.get("/app.js", {"Accept-Encoding": "br",
                                "Range": "bytes=10-99"})
    assert resp.status == 206
    assert resp.body == br[10:100]
    assert resp.header("content-range") == f"bytes 10-99/{len(br)}"
    assert resp.header("content-encoding") == "br"
    assert resp.header("vary") == "Accept-Encoding"
    # curl resumes a download of the encoded bytes the same way.
    out = curl("-H", "Accept-Encoding: br", "-r", "100-", site.url("/app.js"))
    assert out.stdout == br[100:]
    # Several ranges: the whole variant (no multipart for an encoded body).
    resp = site.get("/app.js", {"Accept-Encoding": "br",
                                "Range": "bytes=0-9,50-59"})
    assert resp.status == 200 and resp.body == br
    # An identity range is of the original's bytes.
    resp = site.get("/app.js", {"Range": "bytes=10-99"})
    assert resp.status == 206 and resp.body == APP[10:100]


def test_conditionals_per_variant(site):
    br = site.get("/app.js", {"Accept-Encoding": "br"})
    gz = site.get("/app.js", {"Accept-Encoding": "gzip"})
    plain = site.get("/app.js")
    tags = {br.header("etag"), gz.header("etag"), plain.header("etag")}
    assert len(tags) == 3, tags  # never shared
    assert br.header("last-modified") != plain.header("last-modified")
    resp = site.get("/app.js", {"Accept-Encoding": "br",
                                "If-None-Match": br.header("etag")})
    assert resp.status == 304
    assert resp.header("vary") == "Accept-Encoding"
    assert resp.header("etag") == br.header("etag")
    # RFC 9110 section 15.4.5: no representation metadata beyond the list.
    assert resp.header("content-encoding") is None
    # The variant's tag does not validate the identity response.
    resp = site.get("/app.js", {"If-None-Match": br.header("etag")})
    assert resp.status == 200 and resp.body == APP
    resp = site.get("/app.js", {"Accept-Encoding": "gzip",
                                "If-None-Match": br.header("etag")})
    assert resp.status == 200 and resp.header("content-encoding") == "gzip"
    # If-Range with the variant's tag: a range of the variant.
    resp = site.get("/app.js", {"Accept-Encoding": "br", "Range": "bytes=0-3",
                                "If-Range": br.header("etag")})
    assert resp.status == 206 and resp.body == br.body[:4]
    resp = site.get("/app.js", {"Accept-Encoding": "br",
                                "If-Match": plain.header("etag")})
    assert resp.status == 412 and resp.header("vary") == "Accept-Encoding"


def test_a_variant_without_its_original_is_not_served(site):
    resp = site.get("/orphan.js", {"Accept-Encoding": "gzip"})
    assert resp.status == 404
    assert resp.header("content-encoding") is None


def test_dotfiles_stay_refused_with_their_variants(site):
    for path in ("/.env", "/.env.gz", "/.private/a.txt"):
        resp = site.get(path, {"Accept-Encoding": "gzip"})
        assert resp.status == 403, path
        assert SECRET not in resp.body and b"private" not in resp.body


def test_a_variant_older_than_its_original_is_skipped(site):
    resp = site.get("/old.js", {"Accept-Encoding": "gzip"})
    assert resp.status == 200 and resp.body == OLD
    assert resp.header("content-encoding") is None
    assert resp.header("vary") == "Accept-Encoding"


def test_a_variant_that_is_no_regular_file_is_skipped(site):
    resp = site.get("/dir.js", {"Accept-Encoding": "br, gzip"})
    assert resp.status == 200 and resp.header("content-encoding") == "gzip"
    assert gzip.decompress(resp.body) == b"dir\n"


def test_a_file_asked_for_by_its_own_name_is_itself(site):
    # Served as a variant first (cached with its head), then by name.
    site.get("/app.js", {"Accept-Encoding": "gzip"})
    resp = site.get("/app.js.gz", {"Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.body == (site.root / "app.js.gz").read_bytes()
    assert resp.header("content-encoding") is None
    assert not resp.header("content-type").startswith(
        ("application/javascript", "text/javascript"))


def test_cache_hits_keep_each_responses_coding(site):
    # Alternate on keep-alive connections, so each path is a cache hit from
    # the second round on: the coding and Vary must follow the request.
    br = (site.root / "app.js.br").read_bytes()
    for _ in range(3):
        plain = site.get("/app.js")
        assert plain.body == APP and plain.header("content-encoding") is None
        enc = site.get("/app.js", {"Accept-Encoding": "br"})
        assert enc.body == br and enc.header("content-encoding") == "br"
        assert enc.header("vary") == "Accept-Encoding"
        by_name = site.get("/app.js.br")
        assert by_name.body == br and by_name.header("content-encoding") is None
    counters = site.stop()
    assert counters.get("cache_hits", 0) > 0, counters


def test_off_serves_no_variant_and_no_vary(launch, tmp_path):
    root = tmp_path / "root"
    write(root / "app.js", APP)
    write(root / "app.js.gz", gzip.compress(APP))
    ferry = launch(root=root)
    resp = ferry.get("/app.js", {"Accept-Encoding": "gzip"})
    assert resp.body == APP
    assert resp.header("content-encoding") is None
    assert resp.header("vary") is None


def test_header_rules_and_cors_go_with_a_variant(launch, tmp_path):
    # --header and --cors compose the fields before each response; the
    # variant's Vary and Content-Encoding are added to them, not in place
    # of them, and a 416 keeps Vary but drops the rule's Cache-Control.
    root = tmp_path / "root"
    write(root / "app.js", APP, 1_700_000_000)
    write(root / "app.js.gz", gzip.compress(APP), 1_700_000_001)
    ferry = launch(root=root, args=[
        "--precompressed", "gzip",
        "--header", "*.js Cache-Control: max-age=60",
        "--cors", "/* https://app.example"])
    origin = {"Origin": "https://app.example"}
    resp = ferry.get("/app.js", {"Accept-Encoding": "gzip", **origin})
    assert resp.status == 200
    assert gzip.decompress(resp.body) == APP
    assert resp.header("content-encoding") == "gzip"
    assert resp.header("cache-control") == "max-age=60"
    assert resp.header("access-control-allow-origin") == "https://app.example"
    assert resp.header("vary") == "Origin, Accept-Encoding"
    assert resp.count("cache-control") == 1
    resp = ferry.get("/app.js", {"Accept-Encoding": "gzip",
                                 "Range": "bytes=999999-", **origin})
    assert resp.status == 416
    assert resp.header("cache-control") is None
    assert resp.header("access-control-allow-origin") == "https://app.example"
    assert "Accept-Encoding" in resp.header("vary")
    # No origin, no coding: the original, still varying on both.
    resp = ferry.get("/app.js")
    assert resp.header("content-encoding") is None and resp.body == APP
    assert resp.header("vary") == "Origin, Accept-Encoding"
    assert resp.header("access-control-allow-origin") is None
    assert resp.header("cache-control") == "max-age=60"
