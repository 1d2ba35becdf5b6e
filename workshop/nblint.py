"""Lint the lesson notebooks: committed without outputs, with a title, a parameters cell, no pip installs."""
import re
import sys
from pathlib import Path

import nbformat

NAME = re.compile(r"^\d\d_[a-z0-9]+(_[a-z0-9]+)+\.ipynb$")


def notebook_problems(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    found = []
    if not NAME.match(path.name):
        found.append("name must look like NN_verb_object.ipynb")
    if not nb.cells or nb.cells[0].cell_type != "markdown" or not nb.cells[0].source.startswith("# "):
        found.append("first cell must be a markdown H1 title")
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1 or tagged[0] > 1:
        found.append("one of the first two code cells (and only it) must be tagged 'parameters'")
    for i, cell in enumerate(code):
        if cell.get("outputs") or cell.get("execution_count"):
            found.append(f"code cell {i} has outputs or an execution count (run nbstripout)")
        if re.search(r"^\s*[!%]\s*pip install", cell.source, re.M):
            found.append(f"code cell {i} installs packages; use the environment instead")
    return found


def main(argv=None) -> int:
    folder = Path((argv or sys.argv[1:] or ["notebooks"])[0])
    failures = 0
    for path in sorted(folder.glob("*.ipynb")):
        for problem in notebook_problems(path):
            print(f"{path}: {problem}")
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
