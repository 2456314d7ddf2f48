"""A script that sorts on a local Dask cluster (``sort_batch``, ``sort_multistream(workers=...)``)
outside ``if __name__ == "__main__":`` gets one clear line.

The local Dask cluster starts its workers with ``spawn``: each imports the user's script again
as ``__mp_main__``, so an unguarded call starts the batch again inside every worker and dies in a
long Dask traceback. This check reads the script (with :mod:`ast`) before the cluster starts.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from spikelab.errors import MainGuardError


def _is_main_test(node: ast.expr) -> bool:
    if not isinstance(node, ast.Compare) or len(node.comparators) != 1:
        return False
    sides = [node.left, node.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    strings = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and strings == ["__main__"]


def _guarded(tree: ast.Module, line: int) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_test(node.test):
            if node.body[0].lineno <= line <= (node.body[-1].end_lineno or line):
                return True
    return False


def check_main_guard() -> None:
    """Raise :class:`MainGuardError` when the running script calls this at its top level unguarded.

    Scripts run with ``python -c``, in a notebook or through ``-m`` of an installed tool have no
    file to re-import and pass.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py"):
        return
    frame = sys._getframe(1)
    line = None
    while frame is not None:  # the outermost frame running the script's module code
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__":
            line = frame.f_lineno
        frame = frame.f_back
    if line is None:
        return
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return
    if not _guarded(tree, line):
        raise MainGuardError(
            f"{path}, line {line}: call sort_batch (or sort_multistream with workers) under "
            "`if __name__ == \"__main__\":` (its worker processes import your script again and "
            "would start the batch again)."
        )
