"""The student edition: notebooks/student/NN_*.ipynb, generated from the lessons (notebooks/NN_*.ipynb).

`python -m workshop.student_edition` writes it; `--check` lists what differs from the committed copy (CI
gate) and exits non-zero. Per notebooks/LESSON_CONVENTION (docs/instructor-guide.md):

- code between `### BEGIN SOLUTION` and `### END SOLUTION` (markers included) becomes
  `# YOUR CODE HERE` + `raise NotImplementedError()`, indented like the BEGIN marker;
- cells tagged `instructor` are dropped; outputs and execution counts are stripped; metadata is kept;
- the first code cell gains three lines that move the kernel to notebooks/: the lessons' relative paths
  (`%%writefile ../app/main.py`, `models_dir = "../models"`) then mean the same from notebooks/student/,
  in JupyterLab and headless, and the prose that quotes them stays true. `os.chdir` is idempotent, so
  re-running the cell is safe.
"""
import argparse
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from workshop.paths import NOTEBOOKS_DIR, REPO_ROOT

STUDENT_DIR = NOTEBOOKS_DIR / "student"
LESSON_GLOB = "[0-9][0-9]_*.ipynb"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
SOLUTION_TAG, CHECK_TAG, INSTRUCTOR_TAG = "solution", "check", "instructor"
CWD_LINES = (
    "import os",
    "from workshop.paths import NOTEBOOKS_DIR",
    "os.chdir(NOTEBOOKS_DIR)  # student edition: run from notebooks/, so paths like ../app mean what the lesson says",
)


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def solution_regions(source: str) -> list[tuple[int, int]]:
    """(begin line, end line) index pairs of every marked region; ValueError when markers do not pair up."""
    regions, begin = [], None
    for i, line in enumerate(source.split("\n")):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise ValueError(f"line {i + 1}: {BEGIN} inside another solution region")
            begin = i
        elif marker == END:
            if begin is None:
                raise ValueError(f"line {i + 1}: {END} without {BEGIN}")
            regions.append((begin, i))
            begin = None
    if begin is not None:
        raise ValueError(f"line {begin + 1}: {BEGIN} is never closed by {END}")
    return regions


def solution_code(source: str) -> str:
    """The lines a student has to write (between the markers), for tools that need them."""
    lines = source.split("\n")
    return "\n".join(line for b, e in solution_regions(source) for line in lines[b + 1:e])


def strip_solutions(source: str) -> str:
    """The cell as a student sees it: each marked region replaced by the stub, at the marker's indent."""
    lines = source.split("\n")
    out, start = [], 0
    for begin, end in solution_regions(source):
        indent = re.match(r"\s*", lines[begin]).group(0)
        out += lines[start:begin] + [indent + stub for stub in STUB]
        start = end + 1
    return "\n".join(out + lines[start:])


@dataclass
class StudentNotebook:
    notebook: nbformat.NotebookNode
    lesson_index: list[int]  # lesson_index[i]: index in the lesson of student cell i


def student_notebook(lesson: nbformat.NotebookNode) -> StudentNotebook:
    """The student edition of one lesson (a new notebook; the lesson is not modified)."""
    nb = copy.deepcopy(lesson)
    cells, origin = [], []
    for i, cell in enumerate(nb.cells):
        if INSTRUCTOR_TAG in tags(cell):
            continue
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            try:
                cell.source = strip_solutions(cell.source)
            except ValueError as exc:
                raise ValueError(f"cell {i}: {exc}") from None
        cells.append(cell)
        origin.append(i)
    first_code = next((c for c in cells if c.cell_type == "code"), None)
    if first_code is None or "parameters" in tags(first_code):
        raise ValueError("the first code cell must be the imports cell, before the parameters cell")
    first_code.source = "\n".join(CWD_LINES) + "\n\n" + first_code.source
    nb.cells = cells
    return StudentNotebook(nb, origin)


def render(lesson_path: Path) -> str:
    """The student edition's file content for one lesson, exactly as written to disk."""
    lesson = nbformat.read(lesson_path, as_version=4)
    try:
        text = nbformat.writes(student_notebook(lesson).notebook)
    except ValueError as exc:
        raise ValueError(f"{lesson_path.name}: {exc}") from None
    return text if text.endswith("\n") else text + "\n"  # as nbformat.write does


def lessons(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    return sorted(Path(notebooks_dir).glob(LESSON_GLOB))


def differences(notebooks_dir: Path = NOTEBOOKS_DIR, student_dir: Path | None = None) -> list[str]:
    """Every way the committed student edition differs from what the lessons generate (empty: in sync)."""
    student_dir = Path(student_dir or Path(notebooks_dir) / "student")
    found, expected = [], set()
    for lesson in lessons(notebooks_dir):
        target = student_dir / lesson.name
        expected.add(target.name)
        if not target.exists():
            found.append(f"student/{lesson.name} is missing")
        elif target.read_text() != render(lesson):
            found.append(f"student/{lesson.name} differs from {lesson.name} (not regenerated)")
    for stray in sorted(student_dir.glob(LESSON_GLOB)):
        if stray.name not in expected:
            found.append(f"student/{stray.name} has no lesson notebook")
    return found


def write(notebooks_dir: Path = NOTEBOOKS_DIR, student_dir: Path | None = None) -> list[Path]:
    """(Re)write the student edition; removes student notebooks whose lesson is gone. Returns files changed."""
    student_dir = Path(student_dir or Path(notebooks_dir) / "student")
    student_dir.mkdir(parents=True, exist_ok=True)
    changed, names = [], set()
    for lesson in lessons(notebooks_dir):
        target, text = student_dir / lesson.name, render(lesson)
        names.add(lesson.name)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            changed.append(target)
    for stray in sorted(student_dir.glob(LESSON_GLOB)):
        if stray.name not in names:
            stray.unlink()
            changed.append(stray)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report differences; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        found = differences()
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print("regenerate with: python -m workshop.student_edition", file=sys.stderr)
        return 1 if found else 0
    for path in write():
        print(f"wrote {path.relative_to(REPO_ROOT)}" if path.exists() else f"removed {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
