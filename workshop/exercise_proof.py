"""Prove, on the student edition, that every check cell fails on its stub and passes on its solution.

One kernel runs the student edition of a lesson top to bottom, with the cwd a student has in JupyterLab
(notebooks/student/). Every non-exercise cell must run without error. At each exercise:

1. the stub cell runs (it may raise NotImplementedError: that is the stub);
2. the check cell runs and must FAIL "on its stub": an AssertionError, the stub's NotImplementedError, or a
   NameError for a name the solution would define. Any other error (FileNotFoundError, KeyError, a
   ConnectionError...) is reported too: the check then fails for a reason the student cannot read, so it
   needs an assert with a message first;
3. the lesson's solution cell runs, then the check again, which must PASS — the state a student has after
   solving the exercise, so the lesson goes on as in the solution run.

`python -m workshop.exercise_proof LESSON.ipynb [-p name value ...]` runs it by hand (the test suite runs it
with isolated ports through tests/test_student_edition.py).
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
from papermill.parameterize import parameterize_notebook

from workshop.lessons import exercises
from workshop.run_notebooks import LocalKernelManager
from workshop.student_edition import STUDENT_DIR, solution_code, student_notebook

STUB_ERRORS = ("AssertionError", "NotImplementedError")


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


def _short(error: tuple[str, str] | None) -> str:
    return "ok" if error is None else f"{error[0]}: {error[1][:200]}"


def prove(lesson_path: Path, parameters: dict | None = None, cwd: Path = STUDENT_DIR,
          timeout: int = 900) -> Proof:
    """Run the student edition of one lesson as described above; the Proof lists every problem found."""
    lesson = nbformat.read(lesson_path, as_version=4)
    found, problems = exercises(lesson)
    proof = Proof(Path(lesson_path).name, problems=list(problems))
    student = student_notebook(lesson)
    for cell in student.notebook.cells:  # papermill reads cell.metadata.tags on every cell
        cell.metadata.setdefault("tags", [])
    student.notebook.metadata.setdefault("papermill", {})
    nb = parameterize_notebook(student.notebook, parameters or {}, kernel_name="python3")
    # papermill inserts one injected-parameters cell: map executed cells back to lesson cells
    injected = [i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", [])]
    origin = list(student.lesson_index)
    for i in injected:
        origin.insert(i, None)
    by_lesson = {lesson_index: i for i, lesson_index in enumerate(origin) if lesson_index is not None}
    exercise_of_check = {e.check: e for e in found}
    stubs = {e.solution for e in found}

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}}, kernel_manager_class=LocalKernelManager)
    start = time.monotonic()
    # IPC kernels put their sockets in the cwd: client and kernel must share it (papermill does the same)
    with contextlib.chdir(cwd), client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, i)
            error, lesson_index = error_of(cell), origin[i]
            if lesson_index in stubs:
                if error and error[0] != "NotImplementedError":
                    proof.problems.append(f"stub cell {lesson_index} raises {_short(error)} (the code around "
                                          "the markers must run; only the stub may raise NotImplementedError)")
            elif lesson_index in exercise_of_check:
                exercise = exercise_of_check[lesson_index]
                label = f"Your turn {exercise.number} (check cell {lesson_index})"
                solution_src = lesson.cells[exercise.solution].source
                if problem := fails_on_stub(error, solution_src):
                    proof.problems.append(f"{label} {problem}")
                solved = nbformat.v4.new_code_cell(solution_src)
                client.execute_cell(solved, by_lesson[exercise.solution])
                recheck = copy.deepcopy(cell)
                client.execute_cell(recheck, i)
                if error_of(solved):
                    proof.problems.append(f"{label}: the solution cell raises {_short(error_of(solved))}")
                elif error_of(recheck):
                    proof.problems.append(f"{label} fails on the solution: {_short(error_of(recheck))}")
                proof.checks.append({"exercise": exercise.number, "title": exercise.title,
                                     "on_stub": _short(error), "on_solution": _short(error_of(recheck))})
            elif error:
                proof.problems.append(f"cell {lesson_index} raises {_short(error)} in the student edition")
    proof.seconds = time.monotonic() - start
    proof.executed = nb
    return proof


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lesson", type=Path)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter for the lesson (a Python literal, e.g. -p quick True)")
    args = parser.parse_args(argv)
    parameters = {}
    for name, value in args.parameter:
        try:
            parameters[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parameters[name] = value
    proof = prove(args.lesson, parameters)
    for check in proof.checks:
        print(f"Your turn {check['exercise']} · {check['title']}: stub -> {check['on_stub']}; "
              f"solution -> {check['on_solution']}")
    for problem in proof.problems:
        print(f"✘ {problem}")
    print(f"{proof.lesson}: {len(proof.checks)} checks, {len(proof.problems)} problems, {proof.seconds:.0f}s")
    return 1 if proof.problems else 0


if __name__ == "__main__":
    sys.exit(main())
