"""Every public name is importable, documented with an example, and its
examples run."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rxbatch
import rxbatch.aio
import rxbatch.operators
import rxbatch.testing

PUBLIC = (
    [(rxbatch, name) for name in rxbatch.__all__]
    + [(rxbatch.operators, name) for name in rxbatch.operators.__all__]
    + [(rxbatch.aio, name) for name in rxbatch.aio.__all__]
    + [(rxbatch.testing, name) for name in rxbatch.testing.__all__]
)


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


def test_the_lazy_exports_agree_with_what_type_checkers_see() -> None:
    """``_EXPORTS`` (used at run time) and the TYPE_CHECKING imports name the same things."""
    source = Path(rxbatch.__file__).read_text(encoding="utf-8")
    checked = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    imported = {
        (f"{'.' * node.level}{node.module}", alias.name)
        for node in checked.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    exported = {(module, name) for module, names in rxbatch._EXPORTS.items() for name in names}
    assert imported == exported
    assert {name for _, name in exported} | {"__version__"} == set(rxbatch.__all__)


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = "import sys, rxbatch; print([m for m in ('reactivex', 'asyncio') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


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
