"""Deprecated alias of :mod:`robustmq.results.record` (moved there: the results model)."""

from robustmq._deprecated import alias_module
from robustmq.results import record

alias_module(__name__, record)
