"""Run the notebooks and save them with their outputs, so the repository shows the figures.

    python notebooks/render.py                      # every notebooks/*.ipynb
    python notebooks/render.py 02_processing_pipeline.ipynb

Each notebook runs top to bottom in a fresh kernel, in this folder (as the
test suite's nbmake runs it), and is written back with its outputs and
execution counts. Every notebook in the folder is rendered, including ones
added later; run this after changing a notebook or what it shows, and commit
the result. The test suite runs the notebooks from scratch regardless of the
outputs saved here (and checks that each was saved rendered). Needs the
``rxbatch[notebook]`` extra.
"""

from __future__ import annotations

import argparse
import html
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def notebooks(names: list[str]) -> list[Path]:
    """The notebooks named (in this folder), or all of them in name order."""
    if not names:
        return sorted(HERE.glob("*.ipynb"))
    paths = [HERE / Path(name).name for name in names]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise SystemExit(f"no such notebook: {', '.join(missing)}")
    return paths


def render(path: Path, *, timeout: int) -> None:
    """Execute ``path`` in a fresh kernel and write it back with its outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=notebook.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # no timestamps: a rerun changes only what it shows
    )
    client.execute()
    show_final_progress_bars(notebook)
    nbformat.validate(notebook)
    nbformat.write(notebook, path)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def show_final_progress_bars(notebook: Any) -> None:
    """Give each progress-bar widget a plain-text fallback showing where it ended.

    A viewer without widgets (a repository browser) shows an output's
    ``text/plain``, which tqdm sets when the bar first appears (0%). The
    saved widget state holds the bar's last values: the text is rebuilt from
    those.
    """
    states = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})

    def model(reference: str) -> dict[str, Any]:
        found: dict[str, Any] = states.get(reference.removeprefix("IPY_MODEL_"), {})
        return found

    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            box = model(view["model_id"]) if view else {}
            parts = [model(child) for child in box.get("state", {}).get("children", [])]
            kinds = [part.get("model_name") for part in parts]
            if kinds != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
                continue  # not a tqdm bar
            left, bar, right = (part["state"] for part in parts)
            filled = round(10 * bar["value"] / bar["max"]) if bar.get("max") else 0
            text = f"{left['value']}|{'█' * filled}{' ' * (10 - filled)}|{right['value']}"
            output["data"]["text/plain"] = html.unescape(text).replace("\u2007", " ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook file names (default: all)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    for path in notebooks(args.names):
        start = time.perf_counter()
        render(path, timeout=args.timeout)
        print(f"{path.name}: rendered in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
