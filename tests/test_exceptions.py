"""The typed errors: hierarchy, messages, suggestions, and validate_bits."""

from __future__ import annotations

import inspect
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustmq import exceptions
from robustmq.exceptions import (
    BaselineMismatchError,
    CheckpointError,
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    DuplicateNameError,
    InvalidBitsError,
    InvalidOptionError,
    ModelDefinitionError,
    RecordError,
    ResultsFileError,
    RobustMQError,
    StateDictKeysError,
    UnknownModelError,
    UnknownNameError,
    UnknownQuantizerError,
    UnsafeCheckpointError,
    UnsupportedLayerError,
)
from robustmq.quant import validate_bits

#: Every error class and the builtin it must also be.
BUILTINS: dict[type[RobustMQError], type[Exception]] = {
    RobustMQError: Exception,
    UnknownNameError: KeyError,
    UnknownModelError: KeyError,
    UnknownQuantizerError: KeyError,
    InvalidOptionError: ValueError,
    InvalidBitsError: ValueError,
    CheckpointError: Exception,
    CheckpointNotFoundError: FileNotFoundError,
    CorruptCheckpointError: ValueError,
    UnsafeCheckpointError: ValueError,
    CheckpointMismatchError: ValueError,
    StateDictKeysError: KeyError,
    DuplicateNameError: ValueError,
    RecordError: ValueError,
    ResultsFileError: ValueError,
    BaselineMismatchError: ValueError,
    ModelDefinitionError: ValueError,
    UnsupportedLayerError: ValueError,
}


def _instance(cls: type[RobustMQError]) -> RobustMQError:
    """An instance of ``cls`` built with its own constructor signature."""
    if issubclass(cls, UnknownNameError):
        return cls("thing", "gren", ["green", "red"])
    if issubclass(cls, InvalidBitsError):
        return cls(9)
    return cls("something went wrong with file.pth")


class TestHierarchy:
    def test_table_lists_every_error_class(self) -> None:
        """Every exception class defined in robustmq.exceptions is covered by this table."""
        defined = {
            obj
            for _, obj in inspect.getmembers(exceptions, inspect.isclass)
            if issubclass(obj, BaseException) and obj.__module__ == exceptions.__name__
        }
        assert defined == set(BUILTINS)

    @pytest.mark.parametrize("cls", list(BUILTINS), ids=lambda c: c.__name__)
    def test_subclasses_robustmq_error_and_builtin(self, cls: type[RobustMQError]) -> None:
        """Each error is a RobustMQError and the builtin it resembles."""
        assert issubclass(cls, RobustMQError)
        assert issubclass(cls, BUILTINS[cls])

    @pytest.mark.parametrize("cls", list(BUILTINS), ids=lambda c: c.__name__)
    def test_caught_by_builtin(self, cls: type[RobustMQError]) -> None:
        """A raised error is caught by an ``except`` of its builtin and of RobustMQError."""
        with pytest.raises(BUILTINS[cls]):
            raise _instance(cls)
        with pytest.raises(RobustMQError):
            raise _instance(cls)

    def test_checkpoint_errors_share_a_base(self) -> None:
        """Every checkpoint problem is a CheckpointError; an unsafe pickle is a corrupt file."""
        for cls in (
            CheckpointNotFoundError,
            CorruptCheckpointError,
            UnsafeCheckpointError,
            CheckpointMismatchError,
            StateDictKeysError,
        ):
            assert issubclass(cls, CheckpointError)
        assert issubclass(UnsafeCheckpointError, CorruptCheckpointError)
        assert issubclass(InvalidBitsError, InvalidOptionError)
        assert issubclass(UnknownModelError, UnknownNameError)
        assert issubclass(UnknownQuantizerError, UnknownNameError)

    @pytest.mark.parametrize("cls", list(BUILTINS), ids=lambda c: c.__name__)
    def test_pickle_round_trip(self, cls: type[RobustMQError]) -> None:
        """Each error, structured arguments too, survives pickling with its class and message."""
        error = _instance(cls)
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is cls
        assert str(copy) == str(error)


class TestMessages:
    @pytest.mark.parametrize(
        "cls",
        [StateDictKeysError, UnknownNameError, UnknownModelError, UnknownQuantizerError],
        ids=lambda c: c.__name__,
    )
    def test_key_error_str_is_plain(self, cls: type[RobustMQError]) -> None:
        """str() of a KeyError-derived error is the message itself, not its quoted repr."""
        error = _instance(cls)
        assert isinstance(error, KeyError)
        assert str(error) == error.args[0]
        assert not str(error).startswith(("'", '"'))

    def test_state_dict_keys_error_message(self) -> None:
        """StateDictKeysError('a: b') prints exactly 'a: b'."""
        assert str(StateDictKeysError("model.pth: missing 1: fc.weight")) == (
            "model.pth: missing 1: fc.weight"
        )

    def test_no_args_prints_class_name(self) -> None:
        """An error raised without a message prints its class name."""
        assert str(RobustMQError()) == "RobustMQError"
        assert str(StateDictKeysError()) == "StateDictKeysError"

    def test_file_not_found_prints_message(self) -> None:
        """CheckpointNotFoundError prints its message, not an OSError '[Errno ...]' form."""
        assert str(CheckpointNotFoundError("checkpoint a.pth does not exist")) == (
            "checkpoint a.pth does not exist"
        )


class TestUnknownNameError:
    def test_suggests_close_matches(self) -> None:
        """A near miss is suggested in .suggestions and as 'Did you mean ...?'."""
        error = UnknownNameError("colour", "gren", ["red", "green", "blue"])
        assert error.suggestions[0] == "green"
        assert "blue" not in error.suggestions
        assert "Did you mean 'green'" in str(error)

    def test_lists_sorted_choices(self) -> None:
        """The message names the kind and the bad name and lists every choice, sorted."""
        error = UnknownNameError("colour", "purple", ["red", "green", "blue"])
        message = str(error)
        assert message.startswith("unknown colour 'purple' (str)")
        assert "expected one of blue, green, red." in message
        assert error.available == ["blue", "green", "red"]
        assert (error.kind, error.name) == ("colour", "purple")

    def test_no_suggestion_for_distant_name(self) -> None:
        """A name close to nothing gets no 'Did you mean' hint."""
        error = UnknownNameError("colour", "zzzzzzz", ["red", "green", "blue"])
        assert error.suggestions == []
        assert "Did you mean" not in str(error)

    def test_several_suggestions_best_first(self) -> None:
        """Up to three close matches are suggested, the closest first."""
        error = UnknownNameError("arch", "resnet", ["resnet18", "resnet50", "regnet", "vgg16"])
        assert error.suggestions[0] in {"resnet18", "resnet50"}
        assert 1 < len(error.suggestions) <= 3
        assert "vgg16" not in error.suggestions

    def test_non_string_name(self) -> None:
        """A non-string name is shown with its type."""
        error = UnknownNameError("colour", 5, ["red"])
        assert "unknown colour 5 (int)" in str(error)


class TestInvalidBitsError:
    def test_message_names_value_type_and_range(self) -> None:
        """The message names the option, the value, its type and the allowed bit-widths."""
        error = InvalidBitsError(9)
        assert str(error).startswith("bits=9 (int) is not a supported bit-width")
        assert "2..8" in str(error)
        assert "32" in str(error)
        assert error.bits == 9

    def test_option_name(self) -> None:
        """The option name given is used in the message."""
        assert str(InvalidBitsError("4", option="weight_bits")).startswith("weight_bits='4' (str)")


class TestValidateBits:
    @given(st.integers(min_value=-1000, max_value=1000))
    def test_integer_range(self, bits: int) -> None:
        """An int is accepted (and returned) iff it is in 2..8 or is 32."""
        if 2 <= bits <= 8 or bits == 32:
            assert validate_bits(bits) == bits
        else:
            with pytest.raises(InvalidBitsError, match=rf"bits={bits} \(int\)"):
                validate_bits(bits)

    @pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7, 8, 32])
    def test_accepts_supported(self, bits: int) -> None:
        """2..8 and 32 are returned unchanged as int."""
        result = validate_bits(bits)
        assert result == bits
        assert type(result) is int

    @pytest.mark.parametrize(
        "bits", [1, 9, 16, 33, 0, -4, 4.0, True, False, "4", None, [4]], ids=repr
    )
    def test_rejects(self, bits: object) -> None:
        """Unsupported values raise InvalidBitsError, a ValueError, naming the value."""
        with pytest.raises(InvalidBitsError) as info:
            validate_bits(bits)
        assert isinstance(info.value, ValueError)
        assert str(info.value).startswith(f"bits={bits!r} ({type(bits).__name__})")
        assert info.value.bits is bits

    def test_option_name_in_message(self) -> None:
        """The option argument names the offending option."""
        with pytest.raises(InvalidBitsError, match=r"^activation_bits=16 \(int\)"):
            validate_bits(16, option="activation_bits")
