"""The lessons themselves: app/ is in sync with its notebook cells, notebooks are clean, and the lessons run
headless with quick parameters (papermill's parameter injection, cwd notebooks/), isolated from a stack you may
be running and from this checkout, each exercise proven on the way (workshop/exercise_proof.py: the check fails
on the student's stub, passes on the solution): in order from an EMPTY app/ (CI's one notebook run; it must
rebuild the committed app/), or one alone (`pytest -m notebook_alone -k 02_`).
"""
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from helpers import isolated_parameters, lesson_tree, use_tree

from app.model import CARD
from workshop import exercise_proof, lessons, nblint, nbsync
from workshop.paths import APP_DIR, NOTEBOOKS_DIR
from workshop.stack import Stack

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


# ---------------------------------------------------------------- the notebooks are the source of truth

def test_every_app_file_is_byte_identical_to_the_cell_that_writes_it():
    assert nbsync.problems() == []


@pytest.fixture()
def repo_copy(tmp_path):
    """notebooks/ and app/ copied side by side, so the gate can be shown failing without touching the repo."""
    shutil.copytree(NOTEBOOKS_DIR, tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(APP_DIR, tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_sync_check_catches_an_edited_app_file(repo_copy):
    assert nbsync.problems(repo_copy / "app", repo_copy / "notebooks") == []
    edited = repo_copy / "app" / "config.py"
    edited.write_text(edited.read_text() + "# edited by hand\n")
    [chunk] = nbsync.writefile_cells(repo_copy / "notebooks")[edited.resolve()]
    assert nbsync.problems(repo_copy / "app", repo_copy / "notebooks") == [
        f"app/config.py differs from cell {chunk.index} of {chunk.notebook.name} (not in sync)"]


def multi_chunk(repo_copy: Path, name: str) -> tuple[Path, list]:
    target = (repo_copy / "app" / name).resolve()
    chunks = nbsync.writefile_cells(repo_copy / "notebooks")[target]
    assert len(chunks) >= 3, f"app/{name} should be built by several cells"
    return target, chunks


def test_a_later_lesson_restates_a_whole_file_and_its_cell_counts(repo_copy):
    target = (repo_copy / "app" / "extensions.py").resolve()
    writers = [nb.name for nb in sorted((repo_copy / "notebooks").glob("[0-9][0-9]_*.ipynb"))
               if "%%writefile ../app/extensions.py" in nb.read_text().replace('\\n', '\n')]
    assert len(writers) >= 3, writers  # 02 writes the empty list, 04 and 05 restate it with their feature
    [chunk] = nbsync.writefile_cells(repo_copy / "notebooks")[target]
    assert chunk.notebook.name == writers[-1] and target.read_text() == chunk.content


def test_sync_check_names_the_cell_of_an_edited_middle_chunk(repo_copy):
    target, chunks = multi_chunk(repo_copy, "main.py")
    middle = chunks[len(chunks) // 2]
    text = target.read_text()
    target.write_text(text.replace(middle.content, middle.content.replace("\n", "\n# edited\n", 1), 1))
    assert nbsync.problems(repo_copy / "app", repo_copy / "notebooks") == [
        f"app/main.py differs from {middle.where()} (not in sync)"]


def test_update_notebooks_resplits_an_edited_multi_cell_file_into_its_cells(repo_copy):
    notebooks = repo_copy / "notebooks"
    target, chunks = multi_chunk(repo_copy, "main.py")
    first, middle, last = chunks[0], chunks[len(chunks) // 2], chunks[-1]
    edited = {first.index: first.content.replace("import re\n", "import re\nimport sys\n"),
              middle.index: middle.content + "# a line added at the end of a middle chunk\n",
              last.index: last.content + "\n\n# appended after the last chunk\n"}
    target.write_text("".join(edited.get(c.index, c.content) for c in chunks))
    assert nbsync.update_notebooks(notebooks) == [first.notebook]
    after = nbsync.writefile_cells(notebooks)[target]
    assert [c.content for c in after] == [edited.get(c.index, c.content) for c in chunks]
    assert [c.magic for c in after] == [c.magic for c in chunks]  # %%writefile, then %%writefile -a ...
    assert nbsync.problems(repo_copy / "app", notebooks) == []
    assert nbsync.update_notebooks(notebooks) == []  # a round trip: nothing left to copy


def test_update_notebooks_stops_clearly_when_an_anchor_is_gone(repo_copy):
    notebooks = repo_copy / "notebooks"
    target, chunks = multi_chunk(repo_copy, "main.py")
    line, _ = nbsync.anchor(chunks[2])
    before = chunks[2].notebook.read_bytes()
    target.write_text(target.read_text().replace(line + "\n", line + "  # renamed\n"))
    with pytest.raises(nbsync.SplitError, match="is gone from the file") as raised:
        nbsync.update_notebooks(notebooks)
    assert chunks[2].where() in str(raised.value)
    assert chunks[2].notebook.read_bytes() == before  # nothing half-written


def test_sync_check_catches_a_file_no_cell_writes_and_a_missing_one(repo_copy):
    (repo_copy / "app" / "stray.py").write_text("# not written by any notebook\n")
    (repo_copy / "app" / "logs.py").unlink()
    found = nbsync.problems(repo_copy / "app", repo_copy / "notebooks")
    assert "app/stray.py is not written by any notebook cell" in found
    assert any(p.startswith("app/logs.py") and "missing" in p for p in found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    assert nblint.notebook_problems(path) == []


def test_lint_catches_outputs_and_a_missing_parameters_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · Title"), nbformat.v4.new_code_cell("x = 1")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1")]
    path = tmp_path / "99_broken_notebook.ipynb"
    nbformat.write(nb, path)
    problems = nblint.notebook_problems(path)
    assert any("parameters" in p for p in problems) and any("outputs" in p for p in problems)


def test_notebooks_are_numbered_in_order_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert {1, 2} <= set(numbers)


# ---------------------------------------------------------------- the lessons run, headless

def lesson_specific_problems(path: Path, models_dir: Path) -> list[str]:
    """What one lesson must have produced besides running: checked right after it ran."""
    if path.name.startswith("01_"):
        card = json.loads((models_dir / CARD).read_text())
        if not 0.55 <= card["metrics"]["average_precision"] <= 0.9:
            return [f"{path.name}: model card average precision outside 0.55-0.9: {card['metrics']}"]
    return []


def run_lesson(path: Path, work: Path, models_dir: Path) -> exercise_proof.Proof:
    """Run one lesson of a lesson tree (cwd its notebooks/) with the exercise proof: every cell runs, every
    exercise's check fails on its stub and passes on its solution. The executed notebook is kept in `work`."""
    parameters = isolated_parameters(path, work, models_dir)
    output = work / path.name
    try:
        proof = exercise_proof.prove(path, parameters, output=output)
    finally:
        if "stack_dir" in parameters:  # a notebook may leave its stack up on purpose (00 does): stop it
            Stack(data_dir=parameters["stack_dir"]).stop(force=True)
    found, _ = lessons.exercises(nbformat.read(path, as_version=4))
    problems = list(proof.problems)
    if proof.complete:
        problems += lesson_specific_problems(path, models_dir)
        if len(proof.checks) != len(found):
            problems.append(f"{path.name}: {len(proof.checks)} exercises proven, the lesson has {len(found)}")
        code = [c for c in proof.executed.cells if c.cell_type == "code"]
        if not all(c.get("execution_count") for c in code):
            problems.append(f"{path.name}: cells {[i for i, c in enumerate(code) if not c.execution_count]} "
                            "did not run")
    elif not problems:
        problems.append(f"{path.name}: the run stopped early")
    assert not problems, "\n".join(problems + [f"executed notebook: {output}"])
    return proof


def app_files(app_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(app_dir)): p.read_bytes() for p in sorted(app_dir.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_runs_headless_in_order_from_an_empty_app(tmp_path, monkeypatch):
    """THE notebook run of CI, each lesson once: in order, from an empty app/, every exercise proven on the way
    (its check fails on the stub a student starts from, passes on the solution; the run goes on with the
    solution, so it is the lesson itself); the app/ they write is the committed one, byte for byte. Quick
    parameters, free ports, one models dir shared in order; executed notebooks kept in tmp_path/NN_*/."""
    root = lesson_tree(tmp_path / "tree", app_files=False)
    use_tree(root, monkeypatch)
    models_dir = tmp_path / "models"
    proofs = {}
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        work = tmp_path / path.stem
        work.mkdir()
        proofs[path.name] = run_lesson(path, work, models_dir)
        print(f"{path.name}: {proofs[path.name].seconds:.0f}s, exercises proven: "
              + "; ".join(f"{c['exercise']} stub -> {c['on_stub'].split(':')[0]}" for c in proofs[path.name].checks))
    print(f"lessons in order: {sum(p.seconds for p in proofs.values()):.0f}s, "
          f"{sum(len(p.checks) for p in proofs.values())} exercises proven")
    assert [n[:2] for n in proofs] == [p.name[:2] for p in NOTEBOOKS]
    rebuilt, committed = app_files(root / "app"), app_files(APP_DIR)
    assert rebuilt.keys() == committed.keys(), "the lessons in order write other app/ files than the committed ones"
    differ = [name for name in committed if rebuilt[name] != committed[name]]
    assert not differ, f"app/ files the lessons in order write differently from the committed ones: {differ}"


@pytest.mark.notebook
@pytest.mark.notebook_alone
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_headless(path, tmp_path, monkeypatch):
    """One lesson alone, against the committed app/ (in a copy), its exercises proven as in the in-order run:
    `pytest -m notebook_alone -k 02_`."""
    root = lesson_tree(tmp_path / "tree", app_files=True)
    use_tree(root, monkeypatch)
    run_lesson(root / "notebooks" / path.name, tmp_path, tmp_path / "models")
