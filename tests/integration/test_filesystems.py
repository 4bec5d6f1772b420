"""Roots on file systems that do AIO differently: overlayfs (RWF_NOWAIT is
refused with EOPNOTSUPP: Docker's and systemd-nspawn --volatile's root) and
tmpfs (no O_DIRECT before Linux 6.6). Every file comes back byte-exact."""

import os
import subprocess

import pytest

from harness import sha256


def mount(*args):
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here: {result.stderr.strip()}")


@pytest.fixture
def overlay(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    for d in ("lower", "upper", "work", "merged"):
        (tmp_path / d).mkdir()
    merged = tmp_path / "merged"
    mount("-t", "overlay", "overlay", "-o",
          f"lowerdir={tmp_path / 'lower'},upperdir={tmp_path / 'upper'},"
          f"workdir={tmp_path / 'work'}", str(merged))
    os.chmod(merged, 0o755)
    yield merged
    subprocess.run(["umount", str(merged)], check=True)


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    root = tmp_path / "tmpfs"
    root.mkdir()
    mount("-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(root))
    yield root
    subprocess.run(["umount", str(root)], check=True)


def serve_and_check(launch, root):
    files = {"/small.txt": os.urandom(100), "/big.bin": os.urandom(3 * 1024 * 1024 + 7)}
    for name, data in files.items():
        (root / name.lstrip("/")).write_bytes(data)
    ferry = launch(root=root, args=["--file-cache", "0"])
    for _ in range(2):
        for name, data in files.items():
            assert sha256(ferry.get(name, timeout=10).body) == sha256(data), name
    tail = ferry.get("/big.bin", headers={"Range": "bytes=-5"})
    assert tail.status == 206 and tail.body == files["/big.bin"][-5:]
    counters = ferry.stop()
    assert counters["aborted"] == 0 and counters["aio_errors"] == 0, counters


def test_overlayfs_root(launch, overlay):
    serve_and_check(launch, overlay)


def test_tmpfs_root(launch, tmpfs):
    serve_and_check(launch, tmpfs)
