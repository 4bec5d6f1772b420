"""pytest fixtures for ferryd's integration tests; the machinery is in harness.py."""

from harness import ferry, launch, module_launch  # noqa: F401  (fixtures)
