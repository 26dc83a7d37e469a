"""Deprecated alias of :mod:`robustmq.benchmark.plugin` (the pytest runtime lives in benchmark/)."""

from robustmq._deprecated import alias_module
from robustmq.benchmark import plugin

alias_module(__name__, plugin)
