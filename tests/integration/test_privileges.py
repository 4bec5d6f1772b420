"""Started as root, the workers serve as --user/--group (_ferry by default,
nobody/nogroup with a warning where no _ferry user exists), with no
supplementary groups; only --user root keeps root."""

import grp
import os
import pwd
from pathlib import Path

import pytest

from harness import HELLO, sanitized, wait_until


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


def expect_serving_as(ferry, user: str, group: str):
    """Every thread of every worker (loop, helpers, log) has dropped root."""
    assert ferry.get("/hello.txt").body == HELLO  # threads exist, it serves
    uid = str(pwd.getpwnam(user).pw_uid)
    gid = str(grp.getgrnam(group).gr_gid)
    threads = serving_threads(ferry)
    assert len(threads) >= 3, threads
    for pid, tid in threads:
        creds = credentials(pid, tid)
        assert creds["Uid"] == [uid] * 4, (pid, tid, creds)
        assert creds["Gid"] == [gid] * 4, (pid, tid, creds)
        assert creds["Groups"] == [], (pid, tid, creds)


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_workers_serve_as_the_packaged_user_by_default(ferry):
    """_ferry, not nobody (which shares its signal queue and signal rights
    with every other nobody process); without that user (a source install
    on this machine), nobody/nogroup and one warning that says how to
    create it."""
    warning = ("--user: the default user '_ferry' does not exist; serving as "
               "nobody")
    if user_exists("_ferry"):
        expect_serving_as(ferry, "_ferry", "_ferry")
        assert warning not in ferry.stderr_text()
    else:
        expect_serving_as(ferry, "nobody", "nogroup")
        assert ferry.stderr_text().count(warning) == 1, ferry.stderr_text()
        assert "systemd-sysusers" in ferry.stderr_text()


def test_an_explicit_user_gets_its_own_group_by_default(launch):
    """--user daemon without --group: daemon's group where no _ferry group
    exists (nogroup used to be everyone's group)."""
    if user_exists("_ferry"):
        pytest.skip("a _ferry group exists here: it is the default group")
    ferry = launch(args=["--user", "daemon"])
    expect_serving_as(ferry, "daemon", "daemon")


def test_user_root_must_be_asked_for(launch):
    ferry = launch(args=["--user", "root"])
    assert ferry.get("/hello.txt").body == HELLO
    for pid, tid in serving_threads(ferry):
        assert credentials(pid, tid)["Uid"] == ["0"] * 4


@pytest.mark.parametrize("flag", ["--user", "--group"])
def test_the_default_name_given_explicitly_must_exist(tmp_path, flag):
    """--user _ferry (or --group _ferry) spelled out is not a default to
    fall back from: without that user, one line and exit 64."""
    import subprocess
    from harness import ferryd_path
    exists = user_exists if flag == "--user" else lambda n: n in [
        g.gr_name for g in grp.getgrall()]
    if exists("_ferry"):
        pytest.skip("_ferry exists here")
    result = subprocess.run([ferryd_path(), "--root", str(tmp_path), flag,
                             "_ferry", "--listen", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 64, result.stderr
    what = "user" if flag == "--user" else "group"
    assert result.stderr.strip().splitlines() == [
        f"ferryd: {flag}: '_ferry' is not a {what}"]


def test_an_unknown_user_is_one_line_and_exit_64(tmp_path):
    import subprocess
    from harness import ferryd_path
    result = subprocess.run([ferryd_path(), "--root", str(tmp_path), "--user",
                             "no-such-user-ferry", "--listen", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 64
    assert result.stderr.strip().splitlines() == [
        "ferryd: --user: 'no-such-user-ferry' is not a user"]


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_mlock_locks_each_workers_memory_and_keeps_only_that_right(launch):
    """--mlock started as root: each worker, serving as an unprivileged user,
    has its code locked (VmLck) and keeps CAP_IPC_LOCK and nothing else, so
    RLIMIT_MEMLOCK (8 MiB here, and not raisable without CAP_SYS_RESOURCE)
    does not stop it."""
    if os.geteuid() != 0:
        pytest.fail("needs root: the test is about dropping root")
    if sanitized():
        pytest.skip("ASan and TSan make mlock() a no-op")
    ferry = launch(workers=2, args=["--mlock"])
    workers = wait_until(lambda: len(ferry.worker_pids()) == 2 and ferry.worker_pids(),
                         10, message="two workers")
    assert ferry.get("/hello.txt").status == 200  # both are serving by now
    for pid in workers:
        # Its code at least: more than RLIMIT_MEMLOCK's 8 MiB would allow.
        status = wait_until(
            lambda: (s := proc_status(pid)) and int(s["VmLck"].split()[0]) > 8 * 1024 and s,
            10, message=f"worker {pid} to lock more than 8 MiB")
        assert status["Uid"].split()[0] != "0"
        assert int(status["CapEff"], 16) == 1 << 14, status["CapEff"]  # CAP_IPC_LOCK
        assert int(status["CapPrm"], 16) == 1 << 14, status["CapPrm"]
    assert "--mlock: cannot lock" not in ferry.stderr_text()
