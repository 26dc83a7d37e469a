"""Re-export of :mod:`robustmq.benchmarks.test_adversarial` (the cells ship with the package)."""

from robustmq.benchmarks.test_adversarial import pytestmark, test_adversarial

__all__ = ["pytestmark", "test_adversarial"]
