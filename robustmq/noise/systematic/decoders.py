"""The systematic family's decoders: they live in :mod:`robustmq.data.decoders` (pipeline steps)."""

from robustmq.data.decoders import *  # noqa: F403
from robustmq.data.decoders import __all__  # noqa: F401
