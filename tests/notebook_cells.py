"""Notebook cells as plain Python, for tests that run a notebook's code outside a kernel.

A cell magic cell (``%%program NAME.py``: a program saved, not run) has no Python
to run here, and line magics (``%reload_ext helpers``) are IPython's, not Python's.
"""

from __future__ import annotations

import nbformat


def python_source(cell: nbformat.NotebookNode) -> str:
    """The cell's code without IPython magics ("" for a cell magic cell or a markdown cell)."""
    if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
        return ""
    return "\n".join(
        "" if line.lstrip().startswith("%") else line for line in cell.source.splitlines()
    )
