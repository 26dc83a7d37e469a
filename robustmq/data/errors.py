"""Typed errors of the data layer (folders, decoding, synthetic generation).

Each error derives from :class:`~robustmq.exceptions.RobustMQError` and from the builtin it
resembles; messages name the file, folder or option at fault and what was expected.
"""

from __future__ import annotations

from robustmq.exceptions import RobustMQError, UnknownNameError


class DataError(RobustMQError):
    """Base class of the data layer's errors."""


class DataFolderError(DataError, FileNotFoundError):
    """A data folder (root, split) is missing, unset or not laid out as expected."""


class EmptyClassError(DataFolderError):
    """A class folder holds no image (an empty class would silently shift class indices)."""


class NoClassesError(DataFolderError):
    """A split folder holds no class folder at all."""


class ClassCountError(DataError, ValueError):
    """A folder has a different number of classes than the profile expects."""


class SyntheticFolderError(DataError, FileExistsError):
    """A folder was asked to hold the synthetic set but holds data not made by the generator."""


class ImageDecodeError(DataError, ValueError):
    """An image file is unreadable, truncated or not an image; ``path`` names it."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnknownDecoderError(UnknownNameError):
    """A decoder name that is not registered in ``DECODERS``."""


class UnknownResizerError(UnknownNameError):
    """A resize-method name that is not registered in ``RESIZERS``."""


class ImageModeError(ImageDecodeError):
    """An image whose mode or sample values have no stated conversion to 8-bit RGB."""


class ImageTooLargeError(ImageDecodeError):
    """An image with more pixels than the limit (``PIL.Image.MAX_IMAGE_PIXELS``); not decoded."""


class SymlinkWarning(UserWarning):
    """Symbolic links in a data folder were left out (not followed, looping or leaving the root)."""
