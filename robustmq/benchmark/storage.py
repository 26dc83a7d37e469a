"""Deprecated alias of :mod:`robustmq.results.storage` (moved there: the results model)."""

from robustmq._deprecated import alias_module
from robustmq.results import storage

alias_module(__name__, storage)
