"""pytest fixtures for ferryd's integration tests; the machinery is in harness.py.

A test marked `design_rule` proves a rule of DESIGN.md (no blocking call, no
uninterruptible sleep, signal-queue overflow): under CI (CI set in the
environment, as .ci/run has it) it must run, so a skip of one is reported as
a failure. ctest would otherwise count a pytest file whose tests all skipped
as passed.
"""

import os

import pytest

from harness import ferry, launch, module_launch  # noqa: F401  (fixtures)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "design_rule: proves a rule of DESIGN.md; never skips in CI")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and os.environ.get("CI")
            and item.get_closest_marker("design_rule") is not None):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} proves a design rule and must not "
                           f"skip in CI; it skipped: {report.longrepr}")
