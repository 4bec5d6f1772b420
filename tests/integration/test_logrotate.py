"""The shipped debian/ferry.logrotate against a running ferryd: its paths,
owner and systemctl call are pointed at the test's (nothing else changes),
logrotate rotates, and the next requests land in the new file while the
rotated one keeps the old lines. The log directory belongs to the serving
user, as LogsDirectory= makes it: logrotate must rotate as that user
(`su`), never as root in a directory another user can write."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import wait_until

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "debian" / "ferry.logrotate"
UNIT = REPO / "systemd" / "ferryd.service"


def test_logrotate_rotates_as_the_owner_of_the_log_directory():
    """su and create name the user and group the unit runs as, which own
    the LogsDirectory=."""
    config = SHIPPED.read_text()
    unit = UNIT.read_text()
    user = re.search(r"^User=(\S+)$", unit, re.M).group(1)
    group = re.search(r"^Group=(\S+)$", unit, re.M).group(1)
    assert re.search(r"^LogsDirectory=ferry$", unit, re.M), unit
    assert re.search(rf"^\s*su {user} {group}$", config, re.M), config
    assert re.search(rf"^\s*create 0640 {user} {group}$", config, re.M), config


def test_logrotate_rotates_and_ferryd_reopens(launch, tmp_path, request):
    if shutil.which("logrotate") is None:
        pytest.fail("logrotate is not installed (the README's first command installs it)")
    if os.geteuid() != 0:
        pytest.skip("logrotate's create directive needs root here")
    # Under /tmp: the serving user must reach it (pytest's directory is 0700).
    logs = Path(tempfile.mkdtemp(prefix="ferry-logrotate-"))
    request.addfinalizer(lambda: shutil.rmtree(logs, ignore_errors=True))
    # Writable by the serving user and its group: without `su`, logrotate
    # 3.21 refuses to rotate here ("parent directory has insecure
    # permissions").
    os.chown(logs, 65534, 65534)
    os.chmod(logs, 0o770)
    log = logs / "access.log"
    ferry = launch(args=["--access-log", str(log)])
    config = SHIPPED.read_text()
    assert "/var/log/ferry/*.log" in config and "--signal=USR1" in config
    config = config.replace("/var/log/ferry/*.log", f"{logs}/*.log")
    assert "su _ferry _ferry" in config, config
    config = config.replace("_ferry _ferry", "nobody nogroup")
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
