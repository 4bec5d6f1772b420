"""The shipped debian/ferry.logrotate against a running ferryd: its paths,
owner and systemctl call are pointed at the test's (nothing else changes),
logrotate rotates, and the next requests land in the new file while the
rotated one keeps the old lines."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import wait_until

SHIPPED = Path(__file__).resolve().parents[2] / "debian" / "ferry.logrotate"


def test_logrotate_rotates_and_ferryd_reopens(launch, tmp_path):
    if shutil.which("logrotate") is None:
        pytest.fail("logrotate is not installed (the README's first command installs it)")
    if os.geteuid() != 0:
        pytest.skip("logrotate's create directive needs root here")
    logs = tmp_path / "log"
    logs.mkdir()
    log = logs / "access.log"
    ferry = launch(args=["--access-log", str(log)])
    config = SHIPPED.read_text()
    assert "/var/log/ferry/*.log" in config and "--signal=USR1" in config
    config = config.replace("/var/log/ferry/*.log", f"{logs}/*.log")
    config = config.replace("_ferry _ferry", "root root")
    config = re.sub(r"systemctl kill .*ferryd\.service", f"kill -USR1 {ferry.pid}",
                    config)
    conf = tmp_path / "ferry.logrotate"
    conf.write_text(config)

    for _ in range(3):
        ferry.get("/hello.txt?before")
    wait_until(lambda: log.exists() and log.read_text().count("before") == 3, 10,
               message="three lines before rotation")
    subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "state"), str(conf)],
                   check=True, timeout=30)
    rotated = logs / "access.log.1"
    assert rotated.exists(), sorted(p.name for p in logs.iterdir())
    assert rotated.read_text().count("before") == 3
    wait_until(lambda: b"reopened the access log" in ferry.stderr_path.read_bytes(),
               10, message="ferryd to reopen its log")
    ferry.get("/hello.txt?after")
    wait_until(lambda: "after" in log.read_text(), 10,
               message="the new request in the new file")
    assert "before" not in log.read_text()
    assert "after" not in rotated.read_text()
