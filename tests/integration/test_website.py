"""Hosting a website: index names, /.well-known/, hidden paths, the SPA
fallback and error pages, with real clients (curl, wget) beside raw
requests."""

import subprocess

import pytest

INDEX = b"<!doctype html><title>app</title><div id=app></div>\n"
NOT_FOUND = b"<!doctype html><title>lost</title><p>No such page.</p>\n"
FORBIDDEN = b"<!doctype html><title>no</title><p>Not for you.</p>\n"
TOKEN = b"acme-token.key-authorization\n"


@pytest.fixture(scope="module")
def site(module_launch, tmp_path_factory):
    root = tmp_path_factory.mktemp("site") / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.htm").write_bytes(b"docs index.htm\n")
    (root / "both").mkdir()
    (root / "both" / "index.html").write_bytes(b"both index.html\n")
    (root / "both" / "index.htm").write_bytes(b"both index.htm\n")
    (root / "empty").mkdir()
    (root / "index.html").write_bytes(INDEX)
    (root / "404.html").write_bytes(NOT_FOUND)
    (root / "errors").mkdir()
    (root / "errors" / "403.html").write_bytes(FORBIDDEN)
    (root / ".well-known" / "acme-challenge").mkdir(parents=True)
    (root / ".well-known" / "acme-challenge" / "token").write_bytes(TOKEN)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"[core]\n")
    (root / ".env").write_bytes(b"SECRET=1\n")
    (root / "old.bak").write_bytes(b"backup\n")
    (root / "public.txt").write_bytes(b"public\n")
    return module_launch(root=root, args=[
        "--index", "index.html,index.htm",
        "--hide", "*.bak",
        "--fallback", "/index.html",
        "--error-page", "404 /404.html",
        "--error-page", "403 /errors/403.html",
        "--file-cache-validity", "0",
    ])


def curl(*args):
    return subprocess.run(["curl", "-sS", "--http1.1", *args],
                          capture_output=True, timeout=30)


def test_index_names_are_tried_in_order(site):
    resp = site.get("/docs/")
    assert resp.status == 200 and resp.body == b"docs index.htm\n"
    resp = site.get("/both/")
    assert resp.status == 200 and resp.body == b"both index.html\n"


def test_directory_without_index_is_403_with_its_error_page(site):
    resp = site.get("/empty/")
    assert resp.status == 403
    assert resp.body == FORBIDDEN
    assert resp.header("content-type").startswith("text/html")
    assert resp.header("etag") is None  # an error page has no validators


def test_well_known_is_served_while_other_dot_paths_are_not(site):
    out = curl("-w", "%{http_code}",
               site.url("/.well-known/acme-challenge/token"))
    assert out.returncode == 0
    assert out.stdout == TOKEN + b"200"
    for path in ("/.git/config", "/.env", "/a/../.git/config"):
        resp = site.get(path)
        assert resp.status == 403, path
        assert resp.body == FORBIDDEN


def test_hidden_paths_are_not_found(site):
    resp = site.get("/old.bak")
    assert resp.status == 404
    assert resp.body == NOT_FOUND


def test_spa_fallback_answers_deep_links_with_200(site):
    out = curl("-w", "%{http_code}", site.url("/app/users/42?tab=1"))
    assert out.stdout == INDEX + b"200"
    resp = site.get("/app/route/", method="HEAD")
    assert resp.status == 200
    assert int(resp.header("content-length")) == len(INDEX)
    # wget, as a crawler would follow a deep link.
    wget = subprocess.run(["wget", "-q", "-O", "-", site.url("/deep/link")],
                          capture_output=True, timeout=30)
    assert wget.returncode == 0 and wget.stdout == INDEX


def test_fallback_never_answers_refusals(site):
    assert site.get("/.env").status == 403
    assert site.get("/old.bak").status == 404
    assert site.get("/empty/").status == 403  # a directory without an index


def test_error_page_keeps_the_status_for_real_clients(site):
    out = curl("-w", "%{http_code}", site.url("/.git/config"))
    assert out.stdout == FORBIDDEN + b"403"


def test_head_of_an_error_page_sends_no_body(site):
    resp = site.get("/.env", method="HEAD")
    assert resp.status == 403
    assert int(resp.header("content-length")) == len(FORBIDDEN)
    assert resp.body == b""


def test_keep_alive_goes_on_after_an_error_page(site):
    from harness import Reader, build_request, read_response
    with site.connect() as sock:
        reader = Reader(sock)
        for path, status, body in (("/.env", 403, FORBIDDEN),
                                   ("/public.txt", 200, b"public\n"),
                                   ("/old.bak", 404, NOT_FOUND)):
            sock.sendall(build_request(path, close=False))
            resp = read_response(reader)
            assert (resp.status, resp.body) == (status, body), path


def test_missing_path_without_fallback_gets_the_404_page(launch, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "404.html").write_bytes(NOT_FOUND)
    ferry = launch(root=root, args=["--error-page", "404 /404.html",
                                    "--error-page", "5xx /missing-50x.html"])
    out = curl("-w", "%{http_code}", ferry.url("/nope"))
    assert out.stdout == NOT_FOUND + b"404"


def test_missing_error_page_falls_back_to_the_built_in_one(launch, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    ferry = launch(root=root, args=["--error-page", "404 /404.html"])
    for _ in range(2):
        resp = ferry.get("/nope")
        assert resp.status == 404
        assert b"404 Not Found" in resp.body
    ferry.stop()
    assert ferry.stderr_text().count("--error-page /404.html") == 1


@pytest.mark.parametrize("args, flag", [
    (["--hide", "assets/*"], "--hide"),
    (["--hide", "/a[bc]"], "--hide"),
    (["--allow-dot-path", "/a b"], "--allow-dot-path"),
    (["--error-page", "404 404.html"], "--error-page"),
    (["--error-page", "200 /ok.html"], "--error-page"),
    (["--fallback", "index.html"], "--fallback"),
    (["--fallback", "/../x"], "--fallback"),
    (["--index", "a/b.html"], "--index"),
    (["--index", "index.html,,x"], "--index"),
])
def test_bad_site_options_exit_64_naming_the_flag(args, flag, tmp_path):
    from harness import ferryd_path
    out = subprocess.run([ferryd_path(), "--root", str(tmp_path), *args],
                         capture_output=True, timeout=30)
    assert out.returncode == 64
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], lines
    assert "unknown option" not in lines[0]  # known, and its value refused
