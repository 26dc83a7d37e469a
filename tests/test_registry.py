"""Registry: register, get, names(pattern), duplicates; the model and quantizer registries."""

from __future__ import annotations

import pytest

from robustmq.exceptions import (
    DuplicateNameError,
    RobustMQError,
    UnknownModelError,
    UnknownNameError,
    UnknownQuantizerError,
)
from robustmq.models import create_model, list_models
from robustmq.quant import get_quantizer, list_quantizers
from robustmq.registry import Registry


class _ColourError(UnknownNameError):
    """A registry-specific unknown-name error."""


@pytest.fixture
def colours() -> Registry[int]:
    registry: Registry[int] = Registry("colour")
    for value, name in enumerate(["red", "green", "blue", "dark_red"]):
        registry.register(name)(value)
    return registry


class TestRegistry:
    def test_register_returns_entry_unchanged(self) -> None:
        """register(name) is a decorator that returns the decorated object itself."""
        registry: Registry[object] = Registry("thing")

        def factory() -> None:
            """A registered function."""

        assert registry.register("factory")(factory) is factory
        assert registry.get("factory") is factory

    def test_get(self, colours: Registry[int]) -> None:
        """get returns the entry registered under the name."""
        assert colours.get("red") == 0
        assert colours.get("blue") == 2

    def test_names_sorted(self, colours: Registry[int]) -> None:
        """names() lists every name sorted, and iteration follows it."""
        assert colours.names() == ["blue", "dark_red", "green", "red"]
        assert list(colours) == colours.names()

    @pytest.mark.parametrize(
        ("pattern", "expected"),
        [
            ("*red", ["dark_red", "red"]),
            ("r*", ["red"]),
            ("?ree?", ["green"]),
            ("[bg]*", ["blue", "green"]),
            ("RED", []),
            ("purple", []),
        ],
    )
    def test_names_pattern(self, colours: Registry[int], pattern: str, expected: list[str]) -> None:
        """names(pattern) keeps the names matching the case-sensitive shell pattern."""
        assert colours.names(pattern) == expected

    def test_contains(self, colours: Registry[int]) -> None:
        """``in`` tells whether a name is registered."""
        assert "red" in colours
        assert "purple" not in colours

    def test_duplicate_registration(self, colours: Registry[int]) -> None:
        """Registering a name twice raises DuplicateNameError naming it, keeping the first."""
        with pytest.raises(DuplicateNameError, match="colour 'red' is already registered"):
            colours.register("red")(99)
        assert colours.get("red") == 0

    def test_unknown_name(self, colours: Registry[int]) -> None:
        """An unknown name raises UnknownNameError listing the names and suggesting close ones."""
        with pytest.raises(UnknownNameError) as info:
            colours.get("gren")
        assert isinstance(info.value, KeyError)
        assert info.value.suggestions[0] == "green"
        assert "blue, dark_red, green, red" in str(info.value)
        assert "Did you mean 'green'" in str(info.value)

    def test_custom_error_type(self) -> None:
        """get raises the registry's own error_type."""
        registry: Registry[int] = Registry("colour", _ColourError)
        registry.register("red")(1)
        with pytest.raises(_ColourError, match="unknown colour 'blue'"):
            registry.get("blue")

    @pytest.mark.parametrize("name", [None, 3, ["red"]], ids=repr)
    def test_non_string_name(self, colours: Registry[int], name: object) -> None:
        """A non-string (even unhashable) name raises UnknownNameError, not TypeError."""
        with pytest.raises(UnknownNameError, match=type(name).__name__):
            colours.get(name)  # type: ignore[arg-type]

    def test_empty_registry(self) -> None:
        """An empty registry lists nothing and rejects every name."""
        registry: Registry[int] = Registry("thing")
        assert registry.names() == []
        with pytest.raises(UnknownNameError, match="unknown thing 'x'"):
            registry.get("x")

    def test_registries_are_independent(self, colours: Registry[int]) -> None:
        """Two registries do not share entries."""
        other: Registry[int] = Registry("colour")
        other.register("red")(7)
        assert colours.get("red") == 0
        assert other.names() == ["red"]


class TestModelRegistry:
    def test_misspelt_model_suggests_name(self) -> None:
        """create_model('resnet_18') raises UnknownModelError suggesting 'resnet18'."""
        with pytest.raises(UnknownModelError) as info:
            create_model("resnet_18")
        assert "resnet18" in info.value.suggestions
        assert "Did you mean 'resnet18'" in str(info.value)
        assert isinstance(info.value, KeyError)
        assert isinstance(info.value, RobustMQError)

    def test_unknown_model_lists_choices(self) -> None:
        """The error lists every registered architecture."""
        with pytest.raises(UnknownModelError) as info:
            create_model("vit_b16")
        for name in list_models():
            assert name in str(info.value)


class TestQuantizerRegistry:
    def test_misspelt_quantizer_suggests_name(self) -> None:
        """get_quantizer('lsqq') raises UnknownQuantizerError suggesting 'lsq'."""
        with pytest.raises(UnknownQuantizerError) as info:
            get_quantizer("lsqq")
        assert info.value.suggestions[0] == "lsq"
        assert "Did you mean 'lsq'" in str(info.value)
        assert isinstance(info.value, KeyError)

    def test_unknown_quantizer_lists_choices(self) -> None:
        """The error lists every registered quantizer."""
        with pytest.raises(UnknownQuantizerError, match="expected one of dorefa, lsq, pact"):
            get_quantizer("apot")

    def test_registered_quantizers(self) -> None:
        """dorefa, lsq and pact are registered and get_quantizer returns their family."""
        assert list_quantizers() == ["dorefa", "lsq", "pact"]
        for name in list_quantizers():
            assert get_quantizer(name).name == name
