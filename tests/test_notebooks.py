"""The notebooks are committed as a reader should see them: run, with their
outputs, each step explained. (The test suite also runs every notebook from
scratch, with nbmake.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render", NOTEBOOKS_DIR / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_is_saved_with_the_outputs_of_one_run_top_to_bottom(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name} is not saved rendered: run python notebooks/render.py {path.name}"
    )
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_step_is_explained_before_it_runs(path: Path) -> None:
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown", "a notebook opens with what it shows"
    unexplained = [
        i
        for i in range(1, len(cells))
        if cells[i].cell_type == "code" and cells[i - 1].cell_type != "markdown"
    ]
    assert unexplained == [], f"code cells {unexplained} have no markdown before them"


def test_render_runs_any_notebook_and_saves_where_its_bar_ended(tmp_path: Path) -> None:
    """A notebook added later renders the same way, progress bar included."""
    path = tmp_path / "04_new.ipynb"
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# A new notebook"),
            nbformat.v4.new_code_cell(
                "import reactivex, rxbatch\n"
                "reactivex.from_iterable(range(30)).pipe("
                "rxbatch.buffer_with_count(10), rxbatch.progress(30, desc='items')).run()"
            ),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(notebook, path)
    load_render().render(path, timeout=120)
    rendered = nbformat.read(path, as_version=4)
    (cell,) = [c for c in rendered.cells if c.cell_type == "code"]
    assert cell.execution_count == 1
    texts = [o["data"]["text/plain"] for o in cell.outputs if "data" in o]
    bar = next(t for t in texts if t.startswith("items:"))
    assert bar.startswith("items: 100%|██████████| 30/30")
