"""Run a lesson top to bottom and prove each exercise on the way: the check fails on the stub, passes on the solution.

One kernel runs the LESSON notebook in order (papermill's parameter injection; cwd the lesson's folder, as
`papermill --cwd notebooks`), so the solution path is exactly the lesson and what it writes (app/, models) is
what the lesson writes. Right before each exercise's solution cell two cells are inserted, the student's view
of it (the student edition runs the same code: `student_edition.strip_solutions`):

1. the stub: the solution cell with its marked region replaced by the stub. It may raise only the stub's
   NotImplementedError (the code around the markers must run);
2. the check on the stub: the check cell, which must FAIL the way a student can read: an AssertionError, the
   stub's NotImplementedError, or a NameError for a name the solution would define. Any other error
   (FileNotFoundError, KeyError, a ConnectionError...) is reported: the check needs an assert first.

Then the lesson goes on: the solution cell, then the check cell, which must PASS. Every other cell must run
without error. A problem in the stub or its check is recorded and the run goes on; an error in a lesson cell
stops the run there, as papermill would (later cells depend on it). Every problem names the lesson, the cell
(its index in the lesson notebook and first line) and the exercise. The executed notebook, inserted cells
included (tagged `proof-stub` / `proof-check-on-stub`), is written to `output` for inspection.

`python -m workshop.exercise_proof LESSON.ipynb [-p name value ...] [-o executed.ipynb]` runs it by hand; the
test suite runs every lesson this way, in order, from an empty app/ (tests/test_notebooks.py).
"""
import argparse
import ast
import contextlib
import copy
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.parameterize import parameterize_notebook

from workshop.lessons import Exercise, exercises
from workshop.run_notebooks import LocalKernelManager
from workshop.student_edition import solution_code, strip_solutions

STUB_ERRORS = ("AssertionError", "NotImplementedError")
STUB_TAG, STUB_CHECK_TAG = "proof-stub", "proof-check-on-stub"


def error_of(cell) -> tuple[str, str] | None:
    """(ename, evalue) of the error a cell raised, or None."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return (errors[-1]["ename"], errors[-1]["evalue"]) if errors else None


def fails_on_stub(error: tuple[str, str] | None, solution_source: str) -> str | None:
    """None when the check failed the way a check must on a stub, else what is wrong."""
    if error is None:
        return "passes on its stub: it cannot tell a student's empty answer from a right one"
    ename, evalue = error
    if ename in STUB_ERRORS:
        return None
    if ename == "NameError" and (m := re.search(r"name '(\w+)' is not defined", evalue)):
        if re.search(rf"\b{m.group(1)}\b", solution_code(solution_source)):
            return None
    return (f"fails on its stub with {ename}: {evalue} — not an assert a student can read; assert the "
            f"precondition first (e.g. that the file exists) with a message that says what to do")


@dataclass
class Proof:
    lesson: str
    checks: list[dict] = field(default_factory=list)   # one per exercise: stub / solution outcome
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    executed: nbformat.NotebookNode | None = None
    complete: bool = False                              # every cell ran (no stop on a lesson cell's error)


def _short(error: tuple[str, str] | None) -> str:
    return "ok" if error is None else f"{error[0]}: {error[1][:300]}"


def _first_line(source: str) -> str:
    line = next((s.strip() for s in source.split("\n") if s.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


def _executed_cells(lesson: nbformat.NotebookNode, parameters: dict, found: list[Exercise]):
    """The notebook to execute (parameters injected, proof cells inserted) and, per cell, (role, lesson index)."""
    nb = copy.deepcopy(lesson)
    for cell in nb.cells:  # papermill reads cell.metadata.tags on every cell
        cell.metadata.setdefault("tags", [])
    nb.metadata.setdefault("papermill", {})
    nb = parameterize_notebook(nb, parameters, kernel_name="python3")
    by_solution = {e.solution: e for e in found}
    cells, roles, lesson_index = [], [], 0
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.tags:
            cells.append(cell)
            roles.append(("parameters", None))
            continue
        if (exercise := by_solution.get(lesson_index)) is not None:
            stub = nbformat.v4.new_code_cell(strip_solutions(cell.source), metadata={"tags": [STUB_TAG]})
            check = nbformat.v4.new_code_cell(lesson.cells[exercise.check].source,
                                              metadata={"tags": [STUB_CHECK_TAG]})
            cells += [stub, check]
            roles += [("stub", lesson_index), ("check-on-stub", lesson_index)]
        cells.append(cell)
        roles.append(("lesson", lesson_index))
        lesson_index += 1
    assert lesson_index == len(lesson.cells), "papermill changed the lesson's cells"
    nb.cells = cells
    return nb, roles


def prove(lesson_path: Path, parameters: dict | None = None, cwd: Path | None = None,
          output: Path | None = None, timeout: int = 900) -> Proof:
    """Run one lesson as described above (cwd: the lesson's folder by default); the Proof lists every problem."""
    lesson_path = Path(lesson_path)
    lesson = nbformat.read(lesson_path, as_version=4)
    found, problems = exercises(lesson)
    name = lesson_path.name
    proof = Proof(name, problems=[f"{name}: {p}" for p in problems])
    by_solution = {e.solution: e for e in found}
    by_check = {e.check: e for e in found}
    nb, roles = _executed_cells(lesson, parameters or {}, found)
    proof.executed = nb
    cwd = Path(cwd or lesson_path.parent)

    def where(index: int) -> str:
        return f"{name} cell {index} (`{_first_line(lesson.cells[index].source)}`)"

    def label(exercise: Exercise) -> str:
        return (f"{name} · Your turn {exercise.number} · {exercise.title} "
                f"(solution cell {exercise.solution}, check cell {exercise.check})")

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}}, kernel_manager_class=LocalKernelManager)
    start, stub_error = time.monotonic(), None
    # IPC kernels put their sockets in the cwd: client and kernel must share it (papermill does the same)
    try:
        with contextlib.chdir(cwd), client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                role, index = roles[i]
                try:
                    client.execute_cell(cell, i)
                except (CellTimeoutError, DeadKernelError) as exc:
                    proof.problems.append(f"{where(index) if index is not None else name}: {type(exc).__name__}: "
                                          f"{str(exc)[:300]} (the run stopped there)")
                    break
                error = error_of(cell)
                if role == "stub":
                    exercise = by_solution[index]
                    if error and error[0] != "NotImplementedError":
                        proof.problems.append(f"{label(exercise)}: the stub raises {_short(error)} (the code around "
                                              "the markers must run; only the stub may raise NotImplementedError)")
                elif role == "check-on-stub":
                    exercise, stub_error = by_solution[index], error
                    if problem := fails_on_stub(error, lesson.cells[index].source):
                        proof.problems.append(f"{label(exercise)} {problem}")
                elif index in by_check:
                    exercise = by_check[index]
                    proof.checks.append({"exercise": exercise.number, "title": exercise.title,
                                         "on_stub": _short(stub_error), "on_solution": _short(error)})
                    if error:
                        proof.problems.append(f"{label(exercise)} fails on the solution: {_short(error)} "
                                              "(the run stopped there)")
                        break
                elif error:
                    what = (f"{label(by_solution[index])}: the solution cell raises" if index in by_solution
                            else f"{where(index)} raises" if index is not None else f"{name}: the parameters raise")
                    proof.problems.append(f"{what} {_short(error)} (the run stopped there)")
                    break
            else:
                proof.complete = True
    finally:
        proof.seconds = time.monotonic() - start
        if output is not None:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, output)
    return proof


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lesson", type=Path)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter for the lesson (a Python literal, e.g. -p quick True)")
    parser.add_argument("-o", "--output", type=Path, help="write the executed notebook here")
    args = parser.parse_args(argv)
    parameters = {}
    for name, value in args.parameter:
        try:
            parameters[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parameters[name] = value
    proof = prove(args.lesson, parameters, output=args.output)
    for check in proof.checks:
        print(f"Your turn {check['exercise']} · {check['title']}: stub -> {check['on_stub']}; "
              f"solution -> {check['on_solution']}")
    for problem in proof.problems:
        print(f"✘ {problem}")
    print(f"{proof.lesson}: {len(proof.checks)} checks, {len(proof.problems)} problems, {proof.seconds:.0f}s"
          + ("" if proof.complete else " (stopped early)"))
    return 1 if proof.problems or not proof.complete else 0


if __name__ == "__main__":
    sys.exit(main())
