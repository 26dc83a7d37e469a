"""Deprecated alias of :mod:`robustmq.results.table` (moved there: the results model)."""

from robustmq._deprecated import alias_module
from robustmq.results import table

alias_module(__name__, table)
