"""Re-export of :mod:`robustmq.benchmarks.test_systematic` (the cells ship with the package)."""

from robustmq.benchmarks.test_systematic import pytestmark, test_systematic

__all__ = ["pytestmark", "test_systematic"]
