"""The data layer's error types: project base class, builtin base, pickling."""

from __future__ import annotations

import pickle

import pytest

from robustmq.data import errors
from robustmq.exceptions import RobustMQError, UnknownNameError


class TestErrorTypes:
    @pytest.mark.parametrize(
        ("error", "builtin"),
        [
            (errors.DataFolderError, FileNotFoundError),
            (errors.EmptyClassError, FileNotFoundError),
            (errors.NoClassesError, FileNotFoundError),
            (errors.ClassCountError, ValueError),
            (errors.SyntheticFolderError, FileExistsError),
            (errors.ImageDecodeError, ValueError),
            (errors.UnknownDecoderError, KeyError),
            (errors.UnknownResizerError, KeyError),
        ],
    )
    def test_bases(self, error: type[Exception], builtin: type[Exception]) -> None:
        """Each error is a RobustMQError and the builtin it resembles."""
        assert issubclass(error, RobustMQError)
        assert issubclass(error, builtin)

    def test_unknown_names_are_unknown_name_errors(self) -> None:
        """Unknown decoder/resizer errors are UnknownNameErrors (they list what exists)."""
        assert issubclass(errors.UnknownDecoderError, UnknownNameError)
        assert issubclass(errors.UnknownResizerError, UnknownNameError)

    def test_message_is_unquoted(self) -> None:
        """str() of a FileNotFoundError-based error is the plain message."""
        assert str(errors.DataFolderError("folder /x is missing")) == "folder /x is missing"

    def test_image_decode_error_pickles_with_path(self) -> None:
        """ImageDecodeError survives pickling (process pools) with its message and path."""
        exc = errors.ImageDecodeError("cannot decode image /a/b.jpg", path="/a/b.jpg")
        back = pickle.loads(pickle.dumps(exc))
        assert str(back) == "cannot decode image /a/b.jpg"
        assert back.path == "/a/b.jpg"
