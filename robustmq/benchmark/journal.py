"""Deprecated alias of :mod:`robustmq.results.journal` (moved there: the results model)."""

from robustmq._deprecated import alias_module
from robustmq.results import journal

alias_module(__name__, journal)
