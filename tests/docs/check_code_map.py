#!/usr/bin/python3
"""lib/README.md is the code map: it names every lib/ module and only
modules that exist, and every module but the few listed has a unit test.

Run by ctest as docs.code_map; exits non-zero naming what disagrees."""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIB = ROOT / "lib"
UNIT = ROOT / "tests" / "unit"

# Modules tested through others or only as a whole daemon, each with why.
UNTESTED = {
    "body_source": "CachedBody: response_sender_test; the interface: read_window_test",
    "config_values": "the defaults and WorkerCount: config_test",
    "master": "the control loop: the integration and system tests",
    "worker_processes": "forking workers: test_reload, test_faults",
}


def main() -> int:
    text = (LIB / "README.md").read_text()
    modules = sorted({p.stem for p in LIB.iterdir() if p.suffix in (".h", ".cc")})
    problems = []
    for module in modules:
        if not re.search(rf"`{re.escape(module)}[.`]", text):
            problems.append(f"lib/README.md does not name the module {module}")
    for named in sorted(set(re.findall(r"`([a-z_]+)\.(?:\{h,cc\}|\*|h|cc)`", text))):
        if named not in modules:
            problems.append(f"lib/README.md names {named}, which is not in lib/")
    untested = [m for m in modules
                if not (UNIT / f"{m}_test.cc").exists() and m not in UNTESTED]
    problems += [f"lib/{m} has no tests/unit/{m}_test.cc" for m in untested]
    if len(UNTESTED) * 5 > len(modules):
        problems.append("more than a fifth of lib/ modules lack a unit test")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
