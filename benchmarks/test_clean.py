"""Re-export of :mod:`robustmq.benchmarks.test_clean` (the cells ship with the package)."""

from robustmq.benchmarks.test_clean import pytestmark, test_clean

__all__ = ["pytestmark", "test_clean"]
