"""The Italian edition (notebooks/it/, notebooks/student/it/): generated from the English lessons and
notebooks/it/translations/*.yml, kept in sync, and — read back from the committed files, independently of the
generator — every Italian notebook pairs with an English one: the same code cells (only the known prologue in
the first, only the messages in `check` cells), the same markdown cells and heading structure, in Italian.
The Italian notebooks are not executed here: identical code is what these tests guarantee; `make workshop
EDITION=it` runs them.
"""
import copy
import shutil

import nbformat
import papermill
import pytest
import yaml
from helpers import isolated_parameters, lesson_tree, use_tree
from nbclient import NotebookClient

from workshop import italian, italian_translations, nblint
from workshop.italian import IT_DIR, IT_STUDENT_DIR, PROLOGUE, TRANSLATIONS_DIR
from workshop.paths import APP_DIR, NOTEBOOKS_DIR
from workshop.run_notebooks import LocalKernelManager
from workshop.stack import Stack
from workshop.student_edition import BEGIN, STUB

ITALIAN = sorted(IT_DIR.glob("[0-9][0-9]_*.ipynb"))


def read(path):
    return nbformat.read(path, as_version=4)


def test_italian_edition_is_in_sync_with_the_lessons_and_translations():
    assert italian.differences() == [], "translate what is stale or missing, then: python -m workshop.italian"


def test_there_is_an_italian_edition():
    assert len(ITALIAN) >= 5, [p.name for p in ITALIAN]
    assert [p.name for p in sorted(IT_STUDENT_DIR.glob("*.ipynb"))] == [p.name for p in ITALIAN]


@pytest.mark.parametrize("path", ITALIAN, ids=lambda p: p.name)
def test_italian_notebook_pairs_with_its_english_lesson(path):
    english = NOTEBOOKS_DIR / path.name
    assert english.exists(), f"it/{path.name} has no English lesson"
    en, it = read(english), read(path)
    assert italian.code_differences(en, it) == []
    assert italian.structure_problems(en, it) == []
    assert [c.cell_type for c in en.cells] == [c.cell_type for c in it.cells]  # markdown count and places
    assert italian.prose_problems(it) == []
    assert it.metadata["lesson"]["teaching"] == en.metadata["lesson"]["teaching"]
    assert nblint.notebook_problems(path) == []


@pytest.mark.parametrize("path", ITALIAN, ids=lambda p: p.name)
def test_italian_student_edition_hides_the_solutions(path):
    student, lesson = read(IT_STUDENT_DIR / path.name), read(path)
    text = nbformat.writes(student)
    assert BEGIN not in text and STUB[0] in text
    assert not any("instructor" in c.metadata.get("tags", []) for c in student.cells)
    assert next(c for c in student.cells if c.cell_type == "code").source.startswith(PROLOGUE)
    assert [c.source for c in student.cells if c.cell_type == "markdown"] == [
        c.source for c in lesson.cells if c.cell_type == "markdown" and "instructor" not in c.metadata.get("tags", [])]


def test_prologue_resolves_the_lessons_relative_paths_from_notebooks_it(monkeypatch):
    monkeypatch.chdir(IT_DIR)  # where JupyterLab starts a kernel for notebooks/it/NN_*.ipynb
    probe = "from pathlib import Path\nprint(Path('../app/main.py').resolve())"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROLOGUE + probe)])
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(IT_DIR)}},
                   kernel_manager_class=LocalKernelManager).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == str(APP_DIR / "main.py")


@pytest.mark.notebook
@pytest.mark.notebook_alone
@pytest.mark.slow
@pytest.mark.parametrize("path", ITALIAN, ids=lambda p: p.name)
def test_italian_lesson_runs_headless(path, tmp_path, monkeypatch):
    """Opt-in (identical code is what the tests above guarantee): `pytest tests/test_italian.py -m notebook_alone
    -k 01_` runs one Italian lesson from notebooks/it/ in a scratch tree, quick parameters, free ports."""
    root = lesson_tree(tmp_path / "tree", app_files=True)
    use_tree(root, monkeypatch)
    lesson = root / "notebooks" / "it" / path.name
    parameters = isolated_parameters(lesson, tmp_path, tmp_path / "models")
    try:  # raises PapermillExecutionError, naming the cell, if any cell fails
        papermill.execute_notebook(str(lesson), str(tmp_path / path.name), parameters=parameters,
                                   cwd=str(lesson.parent), kernel_name="python3", progress_bar=False,
                                   kernel_manager_class=LocalKernelManager)
    finally:
        if "stack_dir" in parameters:
            Stack(data_dir=parameters["stack_dir"]).stop(force=True)
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")


# ---------------------------------------------------------------- the checks fail when they should

@pytest.fixture()
def pair():
    path = ITALIAN[0]
    return read(NOTEBOOKS_DIR / path.name), read(path)


def code_cells(nb):
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def test_an_edited_code_cell_in_a_copy_is_named_with_its_line(pair, tmp_path):
    en, it = pair
    k = 3
    index = code_cells(it)[k]
    lines = it.cells[index].source.split("\n")
    lines[1] += "  # edited"
    it.cells[index].source = "\n".join(lines)
    copy_path = tmp_path / ITALIAN[0].name
    nbformat.write(it, copy_path)
    [problem] = italian.code_differences(en, read(copy_path))
    assert problem.startswith(f"cell {index} (code cell {k}, English cell {index}) differs at line 2:"), problem
    assert "# edited" in problem


def test_a_check_cell_may_change_its_messages_only(pair):
    en, it = pair
    index = next(i for i in code_cells(it) if "check" in it.cells[i].metadata.get("tags", []))
    messages = italian.messages(it.cells[index].source)
    assert messages and all(m not in italian.messages(en.cells[index].source) for m in messages[:1])  # translated
    changed = copy.deepcopy(it)
    changed.cells[index].source = it.cells[index].source.replace("def check_", "def czech_", 1)
    assert [p.split(" differs at")[0] for p in italian.code_differences(en, changed)] == [
        f"cell {index} (code cell {code_cells(it).index(index)}, English cell {index})"]
    assert italian.mask_messages('assert x == "a", f"no {x}"\nprint("✓ ok", d["k"], f("c"))\nf("code")') == (
        'assert x == "a", "<message>"\nprint("<message>", d["k"], f("c"))\nf("code")')  # "a", "k", "c", "code": code


def test_the_first_code_cell_may_only_add_the_prologue(pair):
    en, it = pair
    first = code_cells(it)[0]
    it.cells[first].source = it.cells[first].source.replace(PROLOGUE, "import os\nos.chdir('..')\n\n")
    assert "must start with the Italian prologue" in italian.code_differences(en, it)[0]


def test_english_prose_left_in_the_italian_edition_is_caught(pair):
    en, it = pair
    index = next(i for i, c in enumerate(it.cells) if c.cell_type == "markdown" and "## " in c.source and i > 0)
    assert italian.language_counts(it.cells[index].source)[0] >= 3  # Italian as committed
    it.cells[index].source = en.cells[index].source
    assert [p.split(" reads as English")[0] for p in italian.prose_problems(it)] == [f"cell {index}"]


def test_structure_check_catches_a_lost_heading_and_a_changed_exercise(pair):
    en, it = pair
    broken = copy.deepcopy(it)
    section = next(i for i, c in enumerate(it.cells) if c.cell_type == "markdown" and c.source.startswith("## "))
    broken.cells[section].source = broken.cells[section].source.replace("## ", "", 1)
    turn = next(i for i, c in enumerate(it.cells) if "### Tocca a te 1" in c.source)
    broken.cells[turn].source = broken.cells[turn].source.replace("(★)", "(★★★)")
    found = italian.structure_problems(en, broken)
    assert any(p.startswith(f"cell {section}: heading levels") for p in found), found
    assert any(p.startswith(f"cell {turn}: exercises") for p in found), found


@pytest.fixture()
def translation():
    lesson = NOTEBOOKS_DIR / ITALIAN[0].name
    return read(lesson), italian.load(italian.translation_path(lesson))


def test_a_changed_english_cell_makes_its_translation_stale(translation):
    english, entries = translation
    assert italian.translate(english, entries).problems == []
    index = next(i for i, c in enumerate(english.cells) if c.cell_type == "markdown" and i > 0)
    english.cells[index].source += "\nA sentence added to the English lesson."
    built = italian.translate(english, entries)
    assert built.notebook is None
    [problem] = built.problems
    assert problem.startswith(f"translation stale: cell {index} (id {english.cells[index].id})")
    assert "+A sentence added to the English lesson." in problem  # the diff shows the translator what changed


def test_a_new_english_cell_or_message_is_reported_missing(translation):
    english, entries = translation
    english.cells.insert(3, nbformat.v4.new_markdown_cell("A new paragraph.", id="newcell1"))
    check = next(i for i, c in enumerate(english.cells) if "check" in c.metadata.get("tags", []))
    english.cells[check].source = english.cells[check].source.replace(
        "\n\n\n", '\n    assert True, "a new message"\n\n\n', 1)
    problems = italian.translate(english, entries).problems
    assert "translation missing: cell 3 (id newcell1)" in problems
    assert any(p.startswith(f"translation missing: cell {check}") and '"a new message"' in p for p in problems)


def test_a_translated_message_must_keep_its_values(translation):
    english, entries = translation
    entries = copy.deepcopy(entries)
    pair = next(s for e in entries for s in e.get("strings", []) if "{" in s["en"] and s["en"].startswith("f"))
    pair["it"] = 'f"tradotto senza i valori"'
    assert any("must keep its {...} values" in p for p in italian.translate(english, entries).problems)


def test_scaffold_records_new_english_and_marks_stale_entries(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "kernel-ipc-*"))
    monkeypatch.setattr(italian_translations, "TRANSLATIONS_DIR",  # where translation_path reads it
                         notebooks / "it" / "translations")
    lesson = notebooks / ITALIAN[0].name
    nb = read(lesson)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and i > 0)
    nb.cells[index].source += "\nOne more sentence."
    nbformat.write(nb, lesson)
    report = italian.scaffold(lesson)
    assert report == [f"cell {index}: stale (update `it`, then delete `stale: true`)"]
    entry = next(e for e in yaml.safe_load(italian.translation_path(lesson).read_text())["cells"]
                 if e["id"] == nb.cells[index].id)
    assert entry["en"] == nb.cells[index].source and entry["stale"] is True and entry["it"]
    assert italian.translate(nb, italian.load(italian.translation_path(lesson))).problems == [
        f"translation stale: cell {index} (id {nb.cells[index].id}): the English changed since it was "
        "translated (marked stale)"]


def test_every_translation_file_names_its_lesson():
    for path in TRANSLATIONS_DIR.glob("*.yml"):
        assert yaml.safe_load(path.read_text())["lesson"] == f"{path.stem}.ipynb"


def test_readme_links_the_italian_edition_at_the_top_and_the_italian_docs_read_italian():
    from workshop.paths import DOCS_DIR, REPO_ROOT
    assert "](README.it.md)" in "\n".join((REPO_ROOT / "README.md").read_text().split("\n")[:4])
    for path in (REPO_ROOT / "README.it.md", DOCS_DIR / "instructor-guide.it.md"):
        it, en = italian.language_counts(path.read_text())
        assert it > 10 * en, f"{path.name}: {it} Italian vs {en} English function words"
