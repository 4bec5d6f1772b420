"""The realtime-signal queue overflows (RLIMIT_SIGPENDING lowered to 64):
the kernel falls back to SIGIO, the worker rescans its sockets with poll()
and every client is still served byte-exact (DESIGN.md, "One worker's loop")."""

import shutil

import pytest

from harness import close_clients, open_clients, raise_nofile_limit, run_round, write_random

pytestmark = pytest.mark.design_rule

CLIENTS = 300
SIZE = 256 * 1024


def test_overflow_rescan_serves_everyone(launch, tmp_path):
    """300 concurrent keep-alive clients each fetch a 256 KiB file twice under
    `prlimit --sigpending=64`: all byte-exact, and overflow_rescans > 0."""
    if not shutil.which("prlimit"):
        pytest.fail("prlimit (util-linux) is required for this test")
    raise_nofile_limit()
    root = tmp_path / "root"
    root.mkdir()
    files = {f"/f{i}.bin": write_random(root / f"f{i}.bin", SIZE) for i in range(4)}
    ferry = launch(root=root, wrapper=["prlimit", "--sigpending=64", "--"],
                   args=["--max-connections", "1000"])
    limits = open(f"/proc/{ferry.pid}/limits").read()
    assert any(line.startswith("Max pending signals") and line.split()[3] == "64"
               for line in limits.splitlines()), limits
    clients = open_clients(ferry, CLIENTS)
    try:
        for round_no in range(2):
            failures = run_round(clients, lambda i: f"/f{(i + round_no) % 4}.bin",
                                 files, timeout=90)
            assert not failures, (f"round {round_no}: {len(failures)} failures,"
                                  f" e.g. {failures[:5]}")
    finally:
        close_clients(clients)
    counters = ferry.stop()
    assert counters["overflow_rescans"] > 0, (
        f"the signal queue never overflowed, or overflow went unnoticed: {counters}")
    assert counters["requests"] >= 2 * CLIENTS
