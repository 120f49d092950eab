"""Every public name is importable, documented with an example, and its
examples run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rxbatch
import rxbatch.operators

PUBLIC = [(rxbatch, name) for name in rxbatch.__all__] + [
    (rxbatch.operators, name) for name in rxbatch.operators.__all__
]


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m.__name__}.{n}" for m, n in PUBLIC])
def test_public_name_is_importable_and_documented(module: object, name: str) -> None:
    value = getattr(module, name)
    if name == "__version__":
        assert isinstance(value, str) and value.count(".") == 2
        return
    doc = value.__doc__ or ""
    assert doc.strip(), f"{name} has no docstring"
    assert "Example" in doc, f"{name}'s docstring has no example"


def test_operators_are_exported_from_the_top_level_too() -> None:
    for name in rxbatch.operators.__all__:
        assert getattr(rxbatch, name) is getattr(rxbatch.operators, name)


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("rxbatch").joinpath("py.typed").is_file()


MODULES = [
    importlib.import_module(info.name)
    for info in pkgutil.walk_packages(rxbatch.__path__, prefix="rxbatch.")
] + [rxbatch]


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module, raise_on_error=False, verbose=False)  # type: ignore[arg-type]
    assert result.failed == 0
