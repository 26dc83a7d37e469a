"""Deprecated alias of :mod:`robustmq.results.summary` (moved there: the results model)."""

from robustmq._deprecated import alias_module
from robustmq.results import summary

alias_module(__name__, summary)
