"""Started as root, the workers serve as --user/--group (nobody/nogroup by
default), with no supplementary groups; only --user root keeps root."""

import grp
import os
import pwd

import pytest

from harness import HELLO


def credentials(pid: int, tid: int) -> dict[str, list[str]]:
    fields = {}
    with open(f"/proc/{pid}/task/{tid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                fields[key] = value.split()
    return fields


@pytest.fixture(autouse=True)
def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: the test is about dropping root")


def serving_threads(ferry) -> list[tuple[int, int]]:
    pairs = []
    for worker in ferry.worker_pids():
        for tid in os.listdir(f"/proc/{worker}/task"):
            pairs.append((worker, int(tid)))
    return pairs


def test_workers_serve_as_nobody_by_default(ferry):
    """Every thread of every worker (loop, helpers, log) has dropped root."""
    assert ferry.get("/hello.txt").body == HELLO  # threads exist, it serves
    nobody = str(pwd.getpwnam("nobody").pw_uid)
    nogroup = str(grp.getgrnam("nogroup").gr_gid)
    threads = serving_threads(ferry)
    assert len(threads) >= 3, threads
    for pid, tid in threads:
        creds = credentials(pid, tid)
        assert creds["Uid"] == [nobody] * 4, (pid, tid, creds)
        assert creds["Gid"] == [nogroup] * 4, (pid, tid, creds)
        assert creds["Groups"] == [], (pid, tid, creds)


def test_user_root_must_be_asked_for(launch):
    ferry = launch(args=["--user", "root"])
    assert ferry.get("/hello.txt").body == HELLO
    for pid, tid in serving_threads(ferry):
        assert credentials(pid, tid)["Uid"] == ["0"] * 4


def test_an_unknown_user_is_one_line_and_exit_64(tmp_path):
    import subprocess
    from harness import ferryd_path
    result = subprocess.run([ferryd_path(), "--root", str(tmp_path), "--user",
                             "no-such-user-ferry", "--listen", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 64
    assert result.stderr.strip().splitlines() == [
        "ferryd: --user: 'no-such-user-ferry' is not a user"]
