"""Every lesson follows notebooks/LESSON_CONVENTION: lesson metadata that agrees with its first and last cells and
its `## ` headings, 2-4 exercises each with a `solution` cell (nbgrader markers) and a `check` cell, and
docs/instructor-guide.md's schedule summed from the metadata. Parametrized per lesson: a red id is a lesson not
converted yet. The fixture notebook in tests/fixtures/ proves each check on real input, and mutated copies of
it prove each check can fail.
"""
import copy
from pathlib import Path

import nbformat
import pytest

from workshop import lesson_schedule, lessons
from workshop.student_edition import lessons as lesson_paths

FIXTURES = Path(__file__).parent / "fixtures"
PRACTICE = FIXTURES / "99_practice_exercises.ipynb"
LESSONS = lesson_paths()


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_metadata_agrees_with_its_cells(path):
    assert lessons.metadata_problems(nbformat.read(path, as_version=4), path.name) == []


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_has_exercises_with_solution_and_check_cells(path):
    assert lessons.exercise_problems(nbformat.read(path, as_version=4)) == []


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_no_code_cell_is_longer_than_a_class_can_type(path):
    assert lessons.length_problems(nbformat.read(path, as_version=4)) == []


def test_length_check_catches_a_long_cell(practice):
    long = copy.deepcopy(practice)
    long.cells.append(nbformat.v4.new_code_cell("\n".join(f"x{i} = {i}" for i in range(41))))
    assert lessons.length_problems(long) == [f"code cell {len(long.cells) - 1} has 41 lines (at most 40: split it)"]
    long.cells[-1].source = "\n".join(f"x{i} = {i}" for i in range(40)) + "\n"
    assert lessons.length_problems(long) == []


def test_instructor_guide_schedule_is_current():
    assert lesson_schedule.problems() == []


# ---------------------------------------------------------------- the checks, proven on the fixture

@pytest.fixture()
def practice():
    return nbformat.read(PRACTICE, as_version=4)


def test_fixture_follows_the_convention(practice):
    assert lessons.metadata_problems(practice, PRACTICE.name) == []
    assert lessons.exercise_problems(practice) == []
    found, _ = lessons.exercises(practice)
    assert [(e.number, e.stars, e.solution, e.check) for e in found] == [(1, "★", 8, 9), (2, "★★", 12, 13)]


def edited(nb, change):
    nb = copy.deepcopy(nb)
    change(nb)
    return nb


METADATA_BREAKS = {
    "no metadata": (lambda nb: nb.metadata.pop("lesson"), 'no nb.metadata["lesson"]'),
    "objective not in the first cell": (
        lambda nb: nb.metadata.lesson.objectives.append("to do something the cell does not say."),
        "**You will learn** bullets"),
    "time disagrees": (lambda nb: nb.metadata.lesson.update(teaching=6), "**Time** says 5 + 10 min"),
    "minutes not a number": (lambda nb: nb.metadata.lesson.update(exercises="10"), "lesson.exercises must be"),
    "keypoint edited in the cell only": (
        lambda nb: setattr(nb.cells[-1], "source", nb.cells[-1].source.replace("empty batch", "empty list")),
        "Key points bullets"),
    "last cell not Key points": (lambda nb: nb.cells.append(nbformat.v4.new_markdown_cell("**Next:** 100")),
                                 "last cell must be markdown starting with `## Key points`"),
    "optional heading without its suffix": (
        lambda nb: setattr(nb.cells[10], "source", nb.cells[10].source.replace(" (optional)", "")),
        "## headings"),
    "section missing in metadata": (lambda nb: nb.metadata.lesson.sections.pop(), "## headings"),
    "title number differs from file": (
        lambda nb: setattr(nb.cells[0], "source", nb.cells[0].source.replace("# 99 ·", "# 12 ·")),
        "title number 12 differs"),
}


@pytest.mark.parametrize("case", METADATA_BREAKS, ids=str)
def test_metadata_check_catches(practice, case):
    change, expected = METADATA_BREAKS[case]
    found = lessons.metadata_problems(edited(practice, change), PRACTICE.name)
    assert any(expected in p for p in found), found


def untag(index, tag):
    return lambda nb: nb.cells[index].metadata.tags.remove(tag)


EXERCISE_BREAKS = {
    "check cell untagged": (untag(13, "check"), "Your turn 2: the cell after the solution (cell 13) must be"),
    "solution cell untagged": (untag(8, "solution"), "cell 8 has solution markers but is not tagged"),
    "markers missing": (lambda nb: setattr(nb.cells[12], "source", nb.cells[12].source.replace(
        "### BEGIN SOLUTION\n", "").replace("### END SOLUTION", "")), "has no ### BEGIN SOLUTION"),
    "marker never closed": (lambda nb: setattr(nb.cells[12], "source", nb.cells[12].source.replace(
        "### END SOLUTION", "")), "never closed"),
    "only one exercise": (lambda nb: nb.cells.__delitem__(slice(11, 14)), "1 exercises"),
    "numbered out of order": (lambda nb: setattr(nb.cells[11], "source", nb.cells[11].source.replace(
        "Your turn 2", "Your turn 3")), "numbered [1, 3]"),
    "check without print ✓": (lambda nb: setattr(nb.cells[9], "source", nb.cells[9].source.rsplit("\n", 1)[0]),
                              'must end with print("✓ ...")'),
    "check never called": (lambda nb: setattr(nb.cells[9], "source", nb.cells[9].source.replace(
        "check_fraud_share()\n", "")), "check_fraud_share is never called"),
    "check allowed to raise": (lambda nb: nb.cells[9].metadata.tags.append("raises-exception"),
                               "check cell 9 is tagged 'raises-exception'"),
    "check without assert": (lambda nb: setattr(nb.cells[9], "source", "def check_x():\n    pass\n\n\ncheck_x()\n"
                                                "print('✓ ok')"), "check_x has no assert"),
}


@pytest.mark.parametrize("case", EXERCISE_BREAKS, ids=str)
def test_exercise_check_catches(practice, case):
    change, expected = EXERCISE_BREAKS[case]
    found = lessons.exercise_problems(edited(practice, change))
    assert any(expected in p for p in found), found


# ---------------------------------------------------------------- the schedule table

def test_schedule_sums_minutes_and_marks_lessons_without_metadata(tmp_path, practice):
    other = edited(practice, lambda nb: nb.metadata.lesson.update(teaching=50, exercises=25))
    nbformat.write(other, tmp_path / "98_other.ipynb")
    bare = edited(practice, lambda nb: nb.metadata.pop("lesson"))
    nbformat.write(bare, tmp_path / "97_bare.ipynb")
    table = lesson_schedule.table([tmp_path / "97_bare.ipynb", tmp_path / "98_other.ipynb", PRACTICE])
    rows = table.split("\n")
    assert rows[2] == "| 97 | `97_bare` Practise the exercise format | TODO | TODO | — | — | — | — |"
    assert rows[3].startswith("| 98 | `98_other` Practise the exercise format | 50 | 25 | 75 | 0:00–1:15 | 1 | 1 |")
    assert rows[4].startswith("| 99 | `99_practice_exercises` Practise the exercise format | 5 | 10 | 15 | 1:15–1:30 |")
    assert rows[5] == "| | **total** | **55** | **35** | **90** | **1:30** | | |"
    assert rows[-1].startswith("TODO: lessons 97 have no `lesson` metadata yet")


def test_schedule_gate_fails_when_minutes_change_and_write_repairs_it(tmp_path, practice):
    guide = tmp_path / "guide.md"
    guide.write_text(f"# Guide\n\n{lesson_schedule.BEGIN}\nold table\n{lesson_schedule.END}\n\nAfter.\n")
    lesson = tmp_path / PRACTICE.name
    nbformat.write(practice, lesson)
    assert lesson_schedule.problems(guide, [lesson]) != []
    assert lesson_schedule.write(guide, [lesson]) and lesson_schedule.problems(guide, [lesson]) == []
    assert guide.read_text().endswith(f"{lesson_schedule.END}\n\nAfter.\n")
    nbformat.write(edited(practice, lambda nb: nb.metadata.lesson.update(exercises=20)), lesson)
    assert lesson_schedule.problems(guide, [lesson]) == [
        "the schedule in guide.md is stale: run python -m workshop.lesson_schedule --write"]
