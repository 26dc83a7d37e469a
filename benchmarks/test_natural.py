"""Re-export of :mod:`robustmq.benchmarks.test_natural` (the cells ship with the package)."""

from robustmq.benchmarks.test_natural import pytestmark, test_natural

__all__ = ["pytestmark", "test_natural"]
