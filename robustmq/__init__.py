"""RobustMQ: how robust are quantized image classifiers? (Xiao et al., 2023)

The public API: build an architecture, quantize it, save and load checkpoints, register a model
of your own (it joins the benchmark's grid: ``pytest --pyargs robustmq.benchmarks``).

>>> import robustmq as rmq
>>> model = rmq.quantize_model(rmq.create_model("resnet18"), "lsq", 4)
"""

from robustmq._version import __version__
from robustmq.checkpoints import Checkpoint, load_checkpoint, open_checkpoint, save_checkpoint
from robustmq.models import create_model, list_models
from robustmq.models.external import register_model
from robustmq.quant import list_quantizers, quantize_model

__all__ = [
    "Checkpoint",
    "__version__",
    "create_model",
    "list_models",
    "list_quantizers",
    "load_checkpoint",
    "open_checkpoint",
    "quantize_model",
    "register_model",
    "save_checkpoint",
]
