"""The student edition (notebooks/student/): generated from the lessons, kept in sync, runnable from its own
folder; it runs the lessons' code with stubs in place of the solutions, and the exercise proof
(workshop/exercise_proof.py) catches a check that passes on its stub or fails on its solution.

The proof on every lesson runs inside CI's one in-order notebook run (tests/test_notebooks.py): each lesson
once, each exercise proven there on the student's stub before the lesson goes on with its solution.
"""
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from workshop import exercise_proof, lessons, student_edition
from workshop.paths import APP_DIR, NOTEBOOKS_DIR
from workshop.run_notebooks import LocalKernelManager
from workshop.student_edition import CWD_LINES, STUB, strip_solutions, student_notebook

FIXTURES = Path(__file__).parent / "fixtures"
PRACTICE = FIXTURES / "99_practice_exercises.ipynb"
BROKEN = FIXTURES / "98_broken_checks.ipynb"
LESSONS = student_edition.lessons()


# ---------------------------------------------------------------- generation and the sync gate

def test_student_edition_is_in_sync_with_the_lessons():
    assert student_edition.differences() == [], "run: python -m workshop.student_edition"


@pytest.fixture()
def notebooks_copy(tmp_path):
    shutil.copytree(NOTEBOOKS_DIR, tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "kernel-ipc-*"))  # a running kernel's sockets
    return tmp_path / "notebooks"


def test_sync_gate_fails_when_a_lesson_changes_and_write_repairs_it(notebooks_copy):
    lesson = notebooks_copy / LESSONS[-1].name
    nb = nbformat.read(lesson, as_version=4)
    nb.cells[-1].source += "\n\nA sentence added to the lesson."
    nbformat.write(nb, lesson)
    (notebooks_copy / "student" / LESSONS[0].name).unlink()
    (notebooks_copy / "student" / "42_stray_lesson.ipynb").write_text("{}")
    assert student_edition.differences(notebooks_copy) == [
        f"student/{LESSONS[0].name} is missing",
        f"student/{lesson.name} differs from {lesson.name} (not regenerated)",
        "student/42_stray_lesson.ipynb has no lesson notebook"]
    changed = student_edition.write(notebooks_copy)
    assert len(changed) == 3 and student_edition.differences(notebooks_copy) == []


def test_stub_replaces_each_marked_region_at_the_marker_indent():
    source = ("def rule():\n    x = 1\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\n"
              "### BEGIN SOLUTION\nanswer = rule()\n### END SOLUTION\nprint(answer)")
    assert student_edition.strip_solutions(source) == (
        f"def rule():\n    x = 1\n    {STUB[0]}\n    {STUB[1]}\n\n{STUB[0]}\n{STUB[1]}\nprint(answer)")
    assert student_edition.solution_code(source) == "    return x + 1\nanswer = rule()"
    for broken in ("### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                   "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"):
        with pytest.raises(ValueError):
            student_edition.strip_solutions(broken)


def test_student_notebook_hides_solutions_and_instructor_notes_and_keeps_metadata():
    lesson = nbformat.read(PRACTICE, as_version=4)
    lesson.cells[5].outputs = [nbformat.v4.new_output("stream", text="2 frauds")]
    lesson.cells[5].execution_count = 3
    student = student_notebook(lesson).notebook
    text = nbformat.writes(student)
    assert "BEGIN SOLUTION" not in text and "sum(labels) / len(labels)" not in text
    assert "FraudShareHigh\\\", \\\"expr" not in text and "Say: the real data" not in text
    assert len(student.cells) == len(lesson.cells) - 1  # the instructor note
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    assert student.metadata["lesson"] == lesson.metadata["lesson"]
    assert [c.metadata.get("tags") for c in student.cells] == [
        c.metadata.get("tags") for c in lesson.cells if "instructor" not in c.metadata.get("tags", [])]
    assert student.cells[1].source.startswith("\n".join(student_edition.CWD_LINES))
    assert f"    {STUB[0]}\n    {STUB[1]}" in student.cells[7].source  # indented like the marker
    assert lessons.metadata_problems(student, PRACTICE.name) == []     # the student edition still reads right


def run_cells(nb, cwd: Path) -> list[str]:
    """Execute a notebook with the cwd JupyterLab gives it; stdout of each code cell."""
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                   kernel_manager_class=LocalKernelManager).execute()
    return ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code"]


def test_student_edition_resolves_the_lessons_relative_paths_from_its_own_folder(monkeypatch):
    probe = "from pathlib import Path\nprint(Path('../app/main.py').resolve())"
    monkeypatch.chdir(NOTEBOOKS_DIR / "student")  # IPC kernel sockets live in the cwd, like papermill's
    fixed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("\n".join(student_edition.CWD_LINES)),
                                            nbformat.v4.new_code_cell(probe)])
    unfixed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(probe)])
    assert run_cells(fixed, NOTEBOOKS_DIR / "student")[1].strip() == str(APP_DIR / "main.py")
    # without the generated lines the same path would land in notebooks/app/: the problem being solved
    assert run_cells(unfixed, NOTEBOOKS_DIR / "student")[0].strip() == str(NOTEBOOKS_DIR / "app" / "main.py")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_student_edition_runs_the_lessons_code_with_stubs_in_place_of_solutions(path):
    """What lets the in-order lesson run stand for the student edition (as generated; the sync gate above
    proves the committed one is that): the same code cells in the same order, only the solution regions
    stubbed (and the first cell's cwd lines); instructor notes are prose only."""
    lesson = nbformat.read(path, as_version=4)
    assert [i for i, c in enumerate(lesson.cells) if "instructor" in student_edition.tags(c)
            and c.cell_type != "markdown"] == [], "an instructor cell holds code the student edition would skip"
    student = student_notebook(lesson).notebook
    expected = [strip_solutions(c.source) for c in lesson.cells if c.cell_type == "code"]
    expected[0] = "\n".join(CWD_LINES) + "\n\n" + expected[0]
    assert [c.source for c in student.cells if c.cell_type == "code"] == expected


# ---------------------------------------------------------------- the proof, on fixtures first

def test_proof_passes_a_lesson_whose_checks_fail_on_stubs_and_pass_on_solutions(tmp_path):
    proof = exercise_proof.prove(PRACTICE, {"out_dir": str(tmp_path)}, output=tmp_path / "executed.ipynb")
    assert proof.problems == [] and proof.complete
    assert [(c["exercise"], c["on_stub"].split(":")[0], c["on_solution"]) for c in proof.checks] == [
        (1, "NotImplementedError", "ok"), (2, "AssertionError", "ok")]
    # the executed notebook, kept for a look: the lesson with parameters injected and, before each solution,
    # the student's stub and the check failing on it
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    lesson = nbformat.read(PRACTICE, as_version=4)
    assert len(executed.cells) == len(lesson.cells) + 1 + 2 * len(proof.checks)
    stubs = [c for c in executed.cells if exercise_proof.STUB_TAG in c.metadata.tags]
    assert [c.source for c in stubs] == [strip_solutions(lesson.cells[i].source) for i in (8, 12)]
    on_stub = [c for c in executed.cells if exercise_proof.STUB_CHECK_TAG in c.metadata.tags]
    assert [exercise_proof.error_of(c)[0] for c in on_stub] == ["NotImplementedError", "AssertionError"]
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")


def prove_edited_practice(tmp_path, cell: int, old: str, new: str) -> exercise_proof.Proof:
    """Run the proof on a copy of the practice lesson with one cell edited (old -> new)."""
    nb = nbformat.read(PRACTICE, as_version=4)
    nb.cells[cell].source = nb.cells[cell].source.replace(old, new)
    edited = tmp_path / PRACTICE.name
    nbformat.write(nb, edited)
    return exercise_proof.prove(edited, {"out_dir": str(tmp_path / "out")})


def test_proof_stops_at_a_lesson_cell_that_fails_and_names_it(tmp_path):
    proof = prove_edited_practice(tmp_path, 5, "n_fraud", "n_frauds")
    assert proof.problems == ["99_practice_exercises.ipynb cell 5 (`labels = [0] * n_legit + [1] * n_frauds`) "
                              "raises NameError: name 'n_frauds' is not defined (the run stopped there)"]
    assert not proof.complete and proof.checks == []


def test_proof_catches_a_check_that_passes_on_its_stub_and_one_that_fails_unreadably(tmp_path):
    proof = exercise_proof.prove(BROKEN, {"out_dir": str(tmp_path)})
    assert len(proof.problems) == 2 and proof.complete, proof.problems
    assert proof.problems[0].startswith(
        "98_broken_checks.ipynb · Your turn 1 · Fraud share of a batch (solution cell 8, check cell 9) "
        "passes on its stub")
    assert proof.problems[1].startswith(
        "98_broken_checks.ipynb · Your turn 2 · Alert on a high fraud share (solution cell 12, check cell 13) "
        "fails on its stub with FileNotFoundError")


def test_what_counts_as_failing_on_the_stub():
    solution = "x = 1\n### BEGIN SOLUTION\nrule = {'alert': 'A'}\n### END SOLUTION"
    assert exercise_proof.fails_on_stub(("AssertionError", "no rule"), solution) is None
    assert exercise_proof.fails_on_stub(("NotImplementedError", ""), solution) is None
    assert exercise_proof.fails_on_stub(("NameError", "name 'rule' is not defined"), solution) is None
    assert "passes on its stub" in exercise_proof.fails_on_stub(None, solution)
    assert "NameError" in exercise_proof.fails_on_stub(("NameError", "name 'rules' is not defined"), solution)
    assert "KeyError" in exercise_proof.fails_on_stub(("KeyError", "'groups'"), solution)


def test_proof_catches_a_check_that_fails_on_the_solution(tmp_path):
    proof = prove_edited_practice(tmp_path, 9, "== 0.25", "== 0.5")
    assert [p.split(":")[0] for p in proof.problems] == [
        "99_practice_exercises.ipynb · Your turn 1 · Fraud share of a batch (solution cell 8, check cell 9) "
        "fails on the solution"]
    assert "the run stopped there" in proof.problems[0] and not proof.complete
