"""The notebooks are the source of truth for app/: each file there is written by one %%writefile cell.

`python -m workshop.nbsync` checks that every app/ file equals the cell that writes it (CI gate);
`--update-notebooks` copies edited app/ files back into their cells (for editing in an IDE).
"""
import argparse
import sys
from pathlib import Path

import nbformat

from workshop.paths import APP_DIR, NOTEBOOKS_DIR, REPO_ROOT

MAGIC = "%%writefile"


def _target(cell_source: str, notebooks_dir: Path) -> Path | None:
    first = cell_source.split("\n", 1)[0].strip()
    if not first.startswith(MAGIC):
        return None
    args = first[len(MAGIC):].split()
    return (notebooks_dir / args[-1]).resolve()  # papermill and Jupyter run with cwd=notebooks/


def _body(cell_source: str) -> str:
    body = cell_source.split("\n", 1)[1] if "\n" in cell_source else ""
    return body if body.endswith("\n") else body + "\n"  # IPython ends a cell with a newline


def writefile_cells(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[Path, tuple[Path, int, str]]:
    """{target file: (notebook, cell index, content)} for every %%writefile cell; duplicates are errors."""
    found: dict[Path, tuple[Path, int, str]] = {}
    for nb_path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for i, cell in enumerate(nb.cells):
            target = _target(cell.source, notebooks_dir) if cell.cell_type == "code" else None
            if target is None:
                continue
            if target in found:
                raise ValueError(f"{target} is written by two cells: {found[target][0].name} and {nb_path.name}")
            found[target] = (nb_path, i, _body(cell.source))
    return found


def problems(app_dir: Path = APP_DIR, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """Every way app/ and the %%writefile cells disagree (empty list: in sync)."""
    cells = writefile_cells(notebooks_dir)
    root = Path(app_dir).resolve().parent
    issues = []
    for path in sorted(app_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.resolve() not in cells:
            issues.append(f"{path.resolve().relative_to(root)} is not written by any notebook cell")
    for target, (nb_path, index, content) in cells.items():
        rel = target.relative_to(root)
        if not target.exists():
            issues.append(f"{rel} (cell {index} of {nb_path.name}) is missing: run the notebook")
        elif target.read_text() != content:
            issues.append(f"{rel} differs from cell {index} of {nb_path.name} (not in sync)")
    return issues


def update_notebooks() -> list[Path]:
    """Copy each app/ file into the cell that writes it; returns the notebooks changed."""
    changed = []
    for target, (nb_path, index, content) in writefile_cells().items():
        text = target.read_text()
        if text == content:
            continue
        nb = nbformat.read(nb_path, as_version=4)
        first = nb.cells[index].source.split("\n", 1)[0]
        nb.cells[index].source = first + "\n" + text.removesuffix("\n")
        nbformat.write(nb, nb_path)
        changed.append(nb_path)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--update-notebooks", action="store_true")
    args = parser.parse_args(argv)
    if args.update_notebooks:
        for nb_path in update_notebooks():
            print(f"updated {nb_path.relative_to(REPO_ROOT)}")
    issues = problems()
    for issue in issues:
        print(issue, file=sys.stderr)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
