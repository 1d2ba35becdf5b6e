"""Read a lesson notebook the way notebooks/LESSON_CONVENTION describes it, and list what breaks the convention.

`metadata_problems` checks nb.metadata["lesson"] against the first cell (You will learn, Time), the last
cell (Key points) and the `## ` headings; `exercise_problems` checks the "Your turn" exercises (heading,
`solution` cell with nbgrader markers, `check` cell); `length_problems` lists code cells over 40 lines. `python -m workshop.lessons [notebooks...]` prints both.
"""
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from workshop.paths import NOTEBOOKS_DIR
from workshop.student_edition import (
    BEGIN,
    CHECK_TAG,
    END,
    INSTRUCTOR_TAG,
    LESSON_GLOB,
    SOLUTION_TAG,
    solution_regions,
    tags,
)

OPTIONAL = " (optional)"
CLOSING_HEADING = "Key points"
TITLE = re.compile(r"^# (\d\d) · \S.*$", re.M)
TIME = re.compile(r"\*\*Time:?\*\*:?\s*(\d+)\s*min teaching\s*\+\s*(\d+)\s*min exercises")
YOUR_TURN = re.compile(r"^### Your turn (\d+) · (\S.*?) \((★{1,3})\)\s*$", re.M)
MIN_EXERCISES, MAX_EXERCISES = 2, 4
MAX_CODE_LINES = 40  # a step a class can type and run before the next one


def student_cells(nb) -> list[tuple[int, nbformat.NotebookNode]]:
    """(index, cell) for every cell a student sees (instructor notes left out)."""
    return [(i, c) for i, c in enumerate(nb.cells) if INSTRUCTOR_TAG not in tags(c)]


def bullets_after(text: str, label: str) -> list[str] | None:
    """The `- ` bullets right after the line holding **label** (continuation lines joined); None without label."""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if re.match(rf"\s*\*\*{re.escape(label)}:?\*\*:?\s*$", line)),
                 None)
    if start is None:
        return None
    items = []
    for line in lines[start + 1:]:
        if re.match(r"\s*[-*] ", line):
            items.append(re.sub(r"^\s*[-*] ", "", line))
        elif items and line.startswith((" ", "\t")) and line.strip():
            items[-1] += " " + line.strip()
        elif items or line.strip():  # blank lines may separate the label from its first bullet
            break
    return [normalize(item) for item in items]


def normalize(text: str) -> str:
    return " ".join(str(text).split())


def section_headings(nb) -> list[str]:
    """Text of every `## ` heading in the student-visible markdown, in order (the closing Key points excluded)."""
    found = []
    for _, cell in student_cells(nb):
        if cell.cell_type == "markdown":
            found += [h.strip() for h in re.findall(r"^## (.+)$", cell.source, re.M)]
    return [h for h in found if h != CLOSING_HEADING]


def metadata_problems(nb, name: str) -> list[str]:
    """What disagrees between nb.metadata["lesson"], the first and last cells and the ## headings."""
    meta = nb.metadata.get("lesson")
    if not isinstance(meta, dict):
        return ['no nb.metadata["lesson"] (objectives, teaching, exercises, keypoints, sections)']
    found = []
    for key in ("objectives", "keypoints"):
        if not (isinstance(meta.get(key), list) and meta[key] and all(isinstance(x, str) and x.strip()
                                                                      for x in meta[key])):
            found.append(f"lesson.{key} must be a non-empty list of strings")
    for key in ("teaching", "exercises"):
        if not (isinstance(meta.get(key), int) and not isinstance(meta.get(key), bool) and meta[key] > 0):
            found.append(f"lesson.{key} must be a positive whole number of minutes")
    sections = meta.get("sections")
    if not (isinstance(sections, list) and sections and all(
            isinstance(s, dict) and isinstance(s.get("title"), str) and isinstance(s.get("core"), bool)
            for s in sections)):
        found.append('lesson.sections must be a non-empty list of {"title": str, "core": bool}')
        sections = None
    if found:
        return found

    first, last = nb.cells[0], nb.cells[-1]
    if first.cell_type != "markdown" or not TITLE.match(first.source):
        found.append("first cell must be markdown starting with `# NN · Title`")
    elif TITLE.match(first.source).group(1) != name[:2]:
        found.append(f"title number {TITLE.match(first.source).group(1)} differs from the file name {name[:2]}")
    learn = bullets_after(first.source, "You will learn") if first.cell_type == "markdown" else None
    if learn is None:
        found.append("first cell has no **You will learn** bullets")
    elif learn != [normalize(o) for o in meta["objectives"]]:
        found.append(f"**You will learn** bullets {learn} differ from lesson.objectives {meta['objectives']}")
    if "**Prerequisites" not in first.source:
        found.append("first cell has no **Prerequisites**")
    time = TIME.search(first.source)
    if not time:
        found.append("first cell has no `**Time**: T min teaching + E min exercises`")
    elif (int(time.group(1)), int(time.group(2))) != (meta["teaching"], meta["exercises"]):
        found.append(f"**Time** says {time.group(1)} + {time.group(2)} min, lesson metadata says "
                     f"{meta['teaching']} + {meta['exercises']}")
    keypoints = (bullets_after(last.source.replace(f"## {CLOSING_HEADING}", f"**{CLOSING_HEADING}**", 1),
                               CLOSING_HEADING)
                 if last.cell_type == "markdown" and last.source.lstrip().startswith(f"## {CLOSING_HEADING}")
                 else None)
    if keypoints is None:
        found.append(f"last cell must be markdown starting with `## {CLOSING_HEADING}`")
    elif keypoints != [normalize(k) for k in meta["keypoints"]]:
        found.append(f"Key points bullets {keypoints} differ from lesson.keypoints {meta['keypoints']}")
    expected = [s["title"] + ("" if s["core"] else OPTIONAL) for s in sections]
    headings = section_headings(nb)
    if headings != expected:
        found.append(f"## headings {headings} differ from lesson.sections {expected} "
                     f"(an optional section's heading ends with '{OPTIONAL}')")
    return found


@dataclass
class Exercise:
    number: int
    title: str
    stars: str
    heading: int   # cell indexes in the lesson notebook
    solution: int
    check: int


def exercises(nb) -> tuple[list[Exercise], list[str]]:
    """The lesson's exercises in order, and what breaks the convention around them."""
    cells = student_cells(nb)
    found, problems = [], []
    for pos, (i, cell) in enumerate(cells):
        if cell.cell_type != "markdown" or not (m := YOUR_TURN.search(cell.source)):
            continue
        label = f"Your turn {m.group(1)}"
        nxt = [c for c in cells[pos + 1:pos + 3]]
        if len(nxt) < 2:
            problems.append(f"{label}: needs a solution cell and a check cell right after its heading")
            continue
        (si, sol), (ci, chk) = nxt
        if sol.cell_type != "code" or SOLUTION_TAG not in tags(sol):
            problems.append(f"{label}: the cell after the heading (cell {si}) must be code tagged '{SOLUTION_TAG}'")
            continue
        if chk.cell_type != "code" or CHECK_TAG not in tags(chk):
            problems.append(f"{label}: the cell after the solution (cell {ci}) must be code tagged '{CHECK_TAG}'")
            continue
        found.append(Exercise(int(m.group(1)), m.group(2), m.group(3), i, si, ci))
    return found, problems


def check_cell_problems(source: str) -> list[str]:
    """A check cell: one `def check_<what>(...)` with asserts, a call to it, then a final print("✓ ...")."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"is not plain Python ({exc.msg}, line {exc.lineno})"]
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("check_")]
    if len(defs) != 1:
        return [f"must define exactly one `def check_<what>(...)`, found {len(defs)}"]
    problems = []
    if not any(isinstance(n, ast.Assert) for n in ast.walk(defs[0])):
        problems.append(f"{defs[0].name} has no assert")
    calls = [n for n in tree.body if isinstance(n, ast.Expr | ast.Assign) and any(
        isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == defs[0].name
        for c in ast.walk(n))]
    if not calls:
        problems.append(f"{defs[0].name} is never called")
    last = tree.body[-1] if tree.body else None
    if not (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
            and isinstance(last.value.func, ast.Name) and last.value.func.id == "print"
            and "✓" in ast.get_source_segment(source, last)):
        problems.append('must end with print("✓ ...")')
    return problems


def exercise_problems(nb) -> list[str]:
    """What breaks the exercise convention: count, order, markers, tags, check cells."""
    found, problems = exercises(nb)
    if not MIN_EXERCISES <= len(found) <= MAX_EXERCISES:
        problems.append(f"{len(found)} exercises ('### Your turn N · title (★)'), the convention asks "
                        f"{MIN_EXERCISES}-{MAX_EXERCISES}")
    numbers = [e.number for e in found]
    if numbers != list(range(1, len(found) + 1)):
        problems.append(f"exercises are numbered {numbers}, expected 1..{len(found)} in order")
    paired = {e.solution for e in found} | {e.check for e in found}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        markers = BEGIN in cell.source or END in cell.source
        if SOLUTION_TAG in tags(cell):
            try:
                if not solution_regions(cell.source):
                    problems.append(f"cell {i} is tagged '{SOLUTION_TAG}' but has no {BEGIN} / {END}")
            except ValueError as exc:
                problems.append(f"cell {i}: {exc}")
            if i not in paired:
                problems.append(f"cell {i} is tagged '{SOLUTION_TAG}' but follows no '### Your turn' heading")
        elif markers:
            problems.append(f"cell {i} has solution markers but is not tagged '{SOLUTION_TAG}'")
        if CHECK_TAG in tags(cell):
            if "raises-exception" in tags(cell):  # nbclient would then let a failing check pass silently in CI
                problems.append(f"check cell {i} is tagged 'raises-exception': a failing check must fail the run")
            if i not in paired:
                problems.append(f"cell {i} is tagged '{CHECK_TAG}' but does not follow a solution cell")
            problems += [f"check cell {i} {p}" for p in check_cell_problems(cell.source)]
    return problems


def length_problems(nb) -> list[str]:
    """Code cells longer than MAX_CODE_LINES (a long %%writefile chunk splits into `%%writefile -a` cells)."""
    return [f"code cell {i} has {n} lines (at most {MAX_CODE_LINES}: split it)"
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and (n := len(cell.source.rstrip("\n").split("\n"))) > MAX_CODE_LINES]


def problems(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return metadata_problems(nb, Path(path).name) + exercise_problems(nb) + length_problems(nb)


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted(NOTEBOOKS_DIR.glob(LESSON_GLOB))
    failures = 0
    for path in paths:
        found = problems(path)
        print(f"{'✔' if not found else '✘'} {path.name}")
        for problem in found:
            print(f"    {problem}")
        failures += bool(found)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
