"""Response headers by path (--header), CORS (--cors), OPTIONS and
--server-header, with real clients: curl, and headless Chromium fetching a
range across origins."""

import os
import re
import subprocess

import pytest

from harness import CHROMIUM, ferryd_path, need_chromium

BLOB = bytes(range(256)) * 4
YEAR = "public, max-age=31536000, immutable"
EXPOSED = "Content-Range, Accept-Ranges, Content-Length, ETag"
ALLOW = "GET, HEAD, OPTIONS"
APP_ORIGIN = "https://app.example"


def make_tree(base):
    root = base / "root"
    (root / "assets").mkdir(parents=True)
    (root / "assets" / "app.3f2a.js").write_bytes(b"console.log(1);\n")
    (root / "assets" / "page.html").write_bytes(b"<p>asset page</p>\n")
    (root / "index.html").write_bytes(b"<!doctype html><title>home</title>\n")
    (root / "about.html").write_bytes(b"<!doctype html><title>about</title>\n")
    (root / "robots.txt").write_bytes(b"User-agent: *\n")
    (root / "data").mkdir()
    (root / "data" / "blob.bin").write_bytes(BLOB)
    return root


RULES = [
    "--header", "/* X-Content-Type-Options: nosniff",
    "--header", "*.html Cache-Control: no-cache",
    "--header", "*/ Cache-Control: no-cache",
    # Specific rules last: replaces the *.html value under /assets/.
    "--header", f"/assets/* Cache-Control: {YEAR}",
    "--header", "*.html Content-Security-Policy: default-src 'self'",
    "--cors", f"/data/* {APP_ORIGIN},http://localhost:3000",
    "--cors", "/assets/* *",
    "--server-header", "ferry-test",
]


@pytest.fixture(scope="module")
def site(module_launch, tmp_path_factory):
    return module_launch(root=make_tree(tmp_path_factory.mktemp("headers")),
                         args=RULES)


def curl(*args):
    return subprocess.run(["curl", "-sS", "--http1.1", "--max-time", "20",
                           *args], capture_output=True, timeout=30)


def heads(*args):
    """Every response head curl saw, each a (status, {lower name: [values]})."""
    out = curl("-o", "/dev/null", "-D", "-", *args)
    assert out.returncode == 0, out.stderr
    result = []
    for block in out.stdout.decode().split("\r\n\r\n"):
        lines = block.strip("\r\n").split("\r\n")
        if not lines or not lines[0].startswith("HTTP/"):
            continue
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields.setdefault(name.lower(), []).append(value.strip())
        result.append((int(lines[0].split()[1]), fields))
    return result


def head(*args):
    responses = heads(*args)
    assert len(responses) == 1, responses
    return responses[0]


def test_cache_control_per_path(site):
    cases = {
        "/assets/app.3f2a.js": [YEAR],
        "/assets/page.html": [YEAR],  # the later rule replaced no-cache
        "/about.html": ["no-cache"],
        "/": ["no-cache"],            # the index page, by its URL
        "/robots.txt": None,
    }
    for path, expected in cases.items():
        status, fields = head(site.url(path))
        assert status == 200, path
        assert fields.get("cache-control") == expected, path
        assert fields["x-content-type-options"] == ["nosniff"], path
        assert fields["server"] == ["ferry-test"], path
    _, fields = head(site.url("/about.html"))
    assert fields["content-security-policy"] == ["default-src 'self'"]


def test_304_and_206_carry_what_the_200_does(site):
    url = site.url("/assets/app.3f2a.js")
    status, fields = head(url)
    etag = fields["etag"][0]
    status, cond = head("-H", f"If-None-Match: {etag}", url)
    assert status == 304
    assert cond["cache-control"] == [YEAR]
    assert cond["x-content-type-options"] == ["nosniff"]
    assert cond["etag"] == [etag]
    status, part = head("-r", "0-3", url)
    assert status == 206 and part["cache-control"] == [YEAR]
    # HEAD too.
    status, fields = head("-I", url)
    assert status == 200 and fields["cache-control"] == [YEAR]


def test_errors_get_no_header_rules(site):
    status, fields = head(site.url("/assets/missing.js"))
    assert status == 404
    assert "cache-control" not in fields
    assert "x-content-type-options" not in fields
    # An unsatisfiable range is no representation to cache for a year.
    status, fields = head("-r", "5000-6000", site.url("/assets/app.3f2a.js"))
    assert status == 416 and "cache-control" not in fields


def test_options_asterisk_and_plain_options_get_allow(site):
    status, fields = head("-X", "OPTIONS", "--request-target", "*",
                          site.url("/"))
    assert status == 204
    assert fields["allow"] == [ALLOW]
    assert "content-length" not in fields
    # A path, existing or not: the disk is not asked. Two on one connection.
    responses = heads("-X", "OPTIONS", site.url("/robots.txt"),
                      site.url("/no/such/file"))
    assert [status for status, _ in responses] == [204, 204]
    for _, fields in responses:
        assert fields["allow"] == [ALLOW]
        assert not any(n.startswith("access-control") for n in fields)
        assert "cache-control" not in fields


def test_other_methods_still_get_405_with_allow(site):
    status, fields = head("-X", "DELETE", site.url("/robots.txt"))
    assert status == 405 and fields["allow"] == [ALLOW]


def test_preflight_from_an_allowed_origin(site):
    status, fields = head(
        "-X", "OPTIONS", "-H", f"Origin: {APP_ORIGIN}",
        "-H", "Access-Control-Request-Method: GET",
        "-H", "Access-Control-Request-Headers: range, if-none-match",
        site.url("/data/blob.bin"))
    assert status == 204
    assert fields["access-control-allow-origin"] == [APP_ORIGIN]
    assert fields["access-control-allow-methods"] == [ALLOW]
    assert fields["access-control-allow-headers"] == ["range, if-none-match"]
    assert fields["access-control-max-age"] == ["86400"]
    assert "Origin" in ", ".join(fields["vary"])
    assert fields["allow"] == [ALLOW]


def test_preflight_from_an_origin_not_allowed_gets_no_access_control(site):
    status, fields = head(
        "-X", "OPTIONS", "-H", "Origin: https://evil.example",
        "-H", "Access-Control-Request-Method: GET",
        site.url("/data/blob.bin"))
    assert status == 204
    assert not any(n.startswith("access-control-allow") for n in fields)


def test_cors_on_actual_responses(site):
    url = site.url("/data/blob.bin")
    status, fields = head("-H", f"Origin: {APP_ORIGIN}", "-r", "2-9", url)
    assert status == 206
    assert fields["access-control-allow-origin"] == [APP_ORIGIN]
    assert fields["access-control-expose-headers"] == [EXPOSED]
    assert fields["vary"] == ["Origin"]
    status, fields = head("-H", "Origin: https://evil.example", url)
    assert status == 200 and "access-control-allow-origin" not in fields
    assert fields["vary"] == ["Origin"]  # for caches, always
    # An error on a CORS path is readable by the allowed script.
    status, fields = head("-H", f"Origin: {APP_ORIGIN}",
                          site.url("/data/missing"))
    assert status == 404
    assert fields["access-control-allow-origin"] == [APP_ORIGIN]
    # "*": the same fields whatever the request says.
    status, fields = head(site.url("/assets/app.3f2a.js"))
    assert fields["access-control-allow-origin"] == ["*"]
    assert "vary" not in fields


def test_server_header_off(launch, tmp_path):
    ferry = launch(root=make_tree(tmp_path), args=["--server-header", "off"])
    status, fields = head(ferry.url("/robots.txt"))
    assert status == 200 and "server" not in fields
    status, fields = head(ferry.url("/nope"))
    assert status == 404 and "server" not in fields


def test_rules_from_a_config_file(launch, tmp_path):
    conf = tmp_path / "ferryd.conf"
    conf.write_text("header = /* X-Frame-Options: DENY\n"
                    f"header = /assets/* Cache-Control: {YEAR}\n"
                    "cors = /data/* *\n"
                    "server-header = ferry (test)\n")
    ferry = launch(root=make_tree(tmp_path), args=["--config", str(conf)])
    status, fields = head(ferry.url("/assets/app.3f2a.js"))
    assert fields["x-frame-options"] == ["DENY"]
    assert fields["cache-control"] == [YEAR]
    assert fields["server"] == ["ferry (test)"]
    status, fields = head(ferry.url("/data/blob.bin"))
    assert fields["access-control-allow-origin"] == ["*"]


def run_ferryd(args, tmp_path):
    return subprocess.run([ferryd_path(), "--root", str(tmp_path), *args],
                          capture_output=True, timeout=30)


@pytest.mark.parametrize("args, words", [
    (["--header", "assets/* Cache-Control: no-cache"],
     ["--header", "must start with"]),
    (["--header", "/a[b] Cache-Control: no-cache"], ["--header", "wildcards"]),
    (["--header", "/x X-A: a\r\nSet-Cookie: x=1"],
     ["--header", "control character"]),
    (["--header", "/x Server: nginx"], ["--header", "--server-header"]),
    (["--header", "/x Access-Control-Allow-Origin: *"], ["--header", "--cors"]),
    (["--header", "/x Content-Length: 1"], ["--header", "Content-Length"]),
    (["--header", "/x Bad Name: 1"], ["--header", "token"]),
    (["--cors", "/data/* https://app.example/"], ["--cors", "path"]),
    (["--cors", "/data/* app.example"], ["--cors", "scheme://host"]),
    (["--cors", "/data/* *,https://a.example"], ["--cors", "'*'"]),
    (["--server-header", "a\nb"], ["--server-header", "control character"]),
])
def test_bad_rules_exit_64_naming_the_flag(args, words, tmp_path):
    out = run_ferryd(args, tmp_path)
    assert out.returncode == 64, out.stderr
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], lines


def test_header_with_cr_in_a_config_file_exits_64_naming_file_and_line(
        tmp_path):
    conf = tmp_path / "ferryd.conf"
    conf.write_bytes(b"header = /* X-A: 1\nheader = /x X-B: a\rSet-Cookie: x\n")
    out = run_ferryd(["--config", str(conf)], tmp_path)
    assert out.returncode == 64, out.stderr
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"{conf}:2: --header" in lines[0], lines
    assert "control character" in lines[0], lines
    conf.write_bytes(b"header = /* X-A: a\x00b\n")
    out = run_ferryd(["--config", str(conf)], tmp_path)
    assert out.returncode == 64 and b"--header" in out.stderr, out.stderr


# ---- headless Chromium: a page on one origin fetches a range from another


PAGE = """<!doctype html><html><head><title>cors</title></head><body>
<pre id="out">pending</pre>
<script>
const out = document.getElementById("out");
fetch("%(url)s", {headers: {"Range": "bytes=2-9", "X-Ferry-Test": "1"}})
  .then(async (r) => {
    const bytes = new Uint8Array(await r.arrayBuffer());
    out.textContent = "status=" + r.status +
        " range=" + r.headers.get("Content-Range") +
        " etag=" + (r.headers.get("ETag") ? "yes" : "no") +
        " body=" + Array.from(bytes).join(",");
  })
  .catch((e) => { out.textContent = "error=" + e.name; });
</script></body></html>
"""


def chromium_dump(url, tmp_path):
    """The DOM Chromium ends with for `url`: it waits for the fetch, as
    network activity holds the virtual time budget back."""
    profile = tmp_path / "chromium-profile"
    out = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--disable-extensions",
         f"--user-data-dir={profile}", "--virtual-time-budget=20000",
         "--dump-dom", url],
        capture_output=True, timeout=90)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    m = re.search(r'<pre id="out">([^<]*)</pre>', out.stdout.decode())
    assert m, out.stdout.decode()[-2000:]
    return m.group(1)


def cross_origin_fetch(launch, tmp_path, allowed_origin):
    page_root = tmp_path / "page"
    page_root.mkdir()
    page = launch(root=page_root)
    origin = f"http://127.0.0.1:{page.port}"
    access_log = tmp_path / "data-access.log"
    data = launch(root=make_tree(tmp_path),
                  args=["--cors", f"/data/* {allowed_origin or origin}",
                        "--access-log", str(access_log)])
    (page_root / "index.html").write_text(
        PAGE % {"url": data.url("/data/blob.bin")})
    result = chromium_dump(page.url("/index.html"), tmp_path)
    data.stop()
    return result, access_log.read_text()


def test_chromium_reads_a_range_across_origins(launch, tmp_path):
    need_chromium()
    result, log = cross_origin_fetch(launch, tmp_path, None)
    expected = ",".join(str(b) for b in BLOB[2:10])
    assert result == (f"status=206 range=bytes 2-9/{len(BLOB)} etag=yes "
                      f"body={expected}")
    # The custom field made it a preflighted request.
    assert '"OPTIONS /data/blob.bin HTTP/1.1" 204' in log, log
    assert '"GET /data/blob.bin HTTP/1.1" 206' in log, log


def test_chromium_fetch_fails_from_an_origin_not_allowed(launch, tmp_path):
    need_chromium()
    result, log = cross_origin_fetch(launch, tmp_path, APP_ORIGIN)
    assert result == "error=TypeError"
    # The preflight was refused: the GET was never sent.
    assert '"OPTIONS /data/blob.bin HTTP/1.1" 204' in log, log
    assert '"GET /data/blob.bin' not in log, log
