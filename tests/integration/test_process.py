"""Process shape and command line: master and worker processes, thread names,
signals, exit statuses, flag errors."""

import os
import signal
import subprocess

import pytest

from harness import (HELLO, Reader, build_request, ferryd_path, proc_comm,
                     read_response, thread_names, wait_until)


def test_master_workers_and_thread_names(launch):
    """--workers 2: a master "ferryd" with two worker children, each with a
    "ferry-worker" loop thread (its main thread) and --helper-threads 3
    "ferry-helper" threads; a "ferry-log" thread exists somewhere."""
    ferry = launch(args=["--helper-threads", "3"], workers=2)
    assert proc_comm(ferry.pid) == "ferryd"

    def layout():
        workers = ferry.worker_pids()
        if len(workers) != 2:
            return None
        names = {pid: thread_names(pid) for pid in workers}
        ready = all(sorted(n.values()).count("ferry-helper") == 3 for n in names.values())
        return (workers, names) if ready else None
    workers, names = wait_until(layout, 10, message="two workers with 3 helpers each")
    for pid in workers:
        assert names[pid][pid] == "ferry-worker", names[pid]
        assert list(names[pid].values()).count("ferry-worker") == 1, names[pid]
    all_names = [c for pid in [ferry.pid, *workers] for c in thread_names(pid).values()]
    assert "ferry-log" in all_names, all_names
    # Both workers serve (SO_REUSEPORT spreads connections; try enough of them).
    for _ in range(20):
        assert ferry.get("/hello.txt").body == HELLO


def test_sigint_is_graceful(launch):
    """SIGINT stops ferryd like SIGTERM: exit 0 and a counters line."""
    ferry = launch()
    assert ferry.get("/hello.txt").body == HELLO
    counters = ferry.stop(signal.SIGINT)
    assert counters["requests"] >= 1 and counters["accepted"] >= 1


def test_sighup_right_after_start_leaves_no_listener_deaf(launch):
    """A SIGHUP while the first workers still start is applied once they
    serve: a worker still starting when its successor forked would arm its
    listener socket after it (F_SETOWN_EX belongs to the open file, shared
    by both generations), take the socket's signals and stop, leaving its
    connections unannounced (before: 5 of 40 such starts had one)."""
    for _ in range(20):
        ferry = launch(workers=2)
        os.kill(ferry.pid, signal.SIGHUP)
        wait_until(lambda: b"reloaded the configuration" in
                   ferry.stderr_path.read_bytes(), 15, message="the reload")
        for _ in range(10):  # on both listener sockets, but for 1 in 512
            assert ferry.get("/hello.txt", timeout=3).body == HELLO
        ferry.stop()


def test_counters_count(launch):
    """requests and accepted count what happened: 3 requests on 2 connections."""
    ferry = launch()
    with ferry.connect() as sock:
        sock.sendall(build_request("/hello.txt") + build_request("/hello.txt"))
        reader = Reader(sock)
        read_response(reader)
        read_response(reader)
    ferry.get("/hello.txt")
    counters = ferry.stop()
    assert counters["requests"] == 3, counters
    assert counters["accepted"] == 2, counters


def test_worker_is_replaced_after_crash(launch):
    """A worker killed with SIGKILL is re-forked by the master, which keeps serving."""
    ferry = launch()
    (old,) = wait_until(lambda: ferry.worker_pids() or None, 5, message="a worker")
    os.kill(old, signal.SIGKILL)
    new = wait_until(lambda: [p for p in ferry.worker_pids() if p != old] or None, 10,
                     message="a replacement worker")
    assert len(new) == 1

    def serves():
        try:
            return ferry.get("/hello.txt", timeout=2).body == HELLO
        except OSError:
            return False
    wait_until(serves, 10, interval=0.1, message="service after the worker died")


def run_ferryd(*args, timeout=5):
    """Runs ferryd to completion; one that keeps running is a failure."""
    try:
        return subprocess.run([ferryd_path(), *args], capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ferryd {' '.join(args)} still running after {timeout}s")


@pytest.mark.parametrize("args,flag", [
    (["--no-such-flag"], "--no-such-flag"),
    (["--workers", "lots"], "--workers"),
    (["--block-size", "12Q"], "--block-size"),
    (["--idle-timeout", "soon"], "--idle-timeout"),
    (["--listen", "127.0.0.1:99999"], "--listen"),
    (["--max-ranges", "-1"], "--max-ranges"),
    (["--metrics-allow", "localhost"], "--metrics-allow"),
    (["--metrics-allow", "10.0.0.0/33"], "--metrics-allow"),
])
def test_bad_option_exit_64(tmp_path, args, flag):
    """A bad option: exit 64 and one stderr line naming the flag."""
    res = run_ferryd("--root", str(tmp_path), "--listen", "127.0.0.1:0", *args)
    assert res.returncode == 64, (res.returncode, res.stderr)
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert flag in lines[0], lines


def test_version_and_help():
    """--version and --help print to stdout and exit 0; --help lists the flags."""
    version = run_ferryd("--version")
    assert version.returncode == 0 and version.stdout.strip(), version
    help_ = run_ferryd("--help")
    assert help_.returncode == 0, help_
    for flag in ["--root", "--listen", "--workers", "--max-ranges", "--idle-timeout",
                 "--allow-dotfiles", "--check-config"]:
        assert flag.encode() in help_.stdout, flag


def test_check_config(tmp_path):
    """--check-config validates without serving: exit 0 for good flags."""
    res = run_ferryd("--root", str(tmp_path), "--listen", "127.0.0.1:0",
                     "--check-config")
    assert res.returncode == 0, res.stderr
