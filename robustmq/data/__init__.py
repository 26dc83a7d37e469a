"""Data: profiles, the pre-processing pipeline, ImageFolder datasets, loading, the synthetic set.

>>> from robustmq.data import get_eval_data, load_tensors
>>> dataset, pipeline = get_eval_data("synthetic")  # generated on first use
>>> tensors = load_tensors(dataset, pipeline)  # images [N, 3, 64, 64] in [0, 1], labels, ids
"""

from robustmq.data.cache import cache_dir
from robustmq.data.datasets import get_eval_data, get_train_data, resolve_root
from robustmq.data.errors import (
    ClassCountError,
    DataError,
    DataFolderError,
    EmptyClassError,
    ImageDecodeError,
    ImageModeError,
    ImageTooLargeError,
    NoClassesError,
    SymlinkWarning,
    SyntheticFolderError,
    UnknownDecoderError,
    UnknownResizerError,
)
from robustmq.data.folder import IMAGE_EXTENSIONS, ImageFolder
from robustmq.data.loading import EvalTensors, clear_cache, load_tensors
from robustmq.data.pipeline import DECODERS, RESIZERS, Pipeline, to_tensor
from robustmq.data.profiles import Profile, TrainRecipe, get_profile, list_profiles
from robustmq.data.synthetic import CLASSES as SYNTHETIC_CLASSES
from robustmq.data.synthetic import ensure_synthetic

__all__ = [
    "DECODERS",
    "IMAGE_EXTENSIONS",
    "RESIZERS",
    "SYNTHETIC_CLASSES",
    "ClassCountError",
    "DataError",
    "DataFolderError",
    "EmptyClassError",
    "EvalTensors",
    "ImageDecodeError",
    "ImageFolder",
    "ImageModeError",
    "ImageTooLargeError",
    "NoClassesError",
    "Pipeline",
    "Profile",
    "SymlinkWarning",
    "SyntheticFolderError",
    "TrainRecipe",
    "UnknownDecoderError",
    "UnknownResizerError",
    "cache_dir",
    "clear_cache",
    "ensure_synthetic",
    "get_eval_data",
    "get_profile",
    "get_train_data",
    "list_profiles",
    "load_tensors",
    "resolve_root",
    "to_tensor",
]
