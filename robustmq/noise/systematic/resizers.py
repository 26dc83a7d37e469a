"""The systematic family's resizers: they live in :mod:`robustmq.data.resizers` (pipeline steps)."""

from robustmq.data.resizers import *  # noqa: F403
from robustmq.data.resizers import __all__  # noqa: F401
