"""The Italian edition: notebooks/it/NN_*.ipynb and notebooks/student/it/NN_*.ipynb, GENERATED from the English
lesson (the single source of the code) and a translation file, notebooks/it/translations/NN_*.yml.

    python -m workshop.italian                 write both Italian editions of every translated lesson
    python -m workshop.italian --check         CI gate: stale or missing translations, files not regenerated
    python -m workshop.italian --scaffold 06   create/update 06's translation file for a translator

A translation file pairs each English text with its Italian, in the lesson's order, by cell id:

    - id: 8ba05e45            # a markdown cell: the whole cell
      en: |                   # the English this Italian was translated from
        # 00 · Start the monitoring stack ...
      it: |
        # 00 · Avviare lo stack di monitoraggio ...
    - id: 1c2d3e4f            # a `check` cell: only its messages (assert messages, print/raise arguments)
      strings:
      - en: '"return the loaded pipeline"'
        it: '"restituisci la pipeline caricata"'

Code cells are copied from the English lesson, so they cannot differ; the only change is a prologue in the
first code cell that moves the kernel to notebooks/ (as the student edition does), so `../app/...` and
`../models` mean what the lesson says from notebooks/it/ too. When an English cell changes, its stored `en` no
longer matches and the cell is reported as "translation stale: cell N"; `--scaffold` then records the new
English, keeps the old Italian and marks the entry `stale: true` (git diff shows what changed in `en`): update
`it` and delete the `stale` line. The generator also checks the Italian reads as the same lesson (heading
levels, "Tocca a te N" exercises with the same stars, the same **Tempo**) and derives nb.metadata["lesson"]
from the Italian cells, so the metadata speaks Italian and agrees with them.

This module generates and checks the committed edition; translation files are read and applied in
workshop.italian_translations, the pairing checks live in workshop.italian_checks and the messages of a check
cell in workshop.italian_messages.
"""
import argparse
import copy
import sys
from pathlib import Path

import nbformat

from workshop.italian_checks import (  # noqa: F401 (re-exported: tests import them from workshop.italian)
    PROLOGUE,
    code_differences,
    language_counts,
    prose_problems,
    structure_problems,
)
from workshop.italian_messages import mask_messages, messages  # noqa: F401 (re-exported)
from workshop.italian_translations import (  # noqa: F401 (re-exported)
    IT_DIR,
    TRANSLATIONS_DIR,
    Built,
    load,
    scaffold,
    translate,
    translation_path,
)
from workshop.paths import NOTEBOOKS_DIR, REPO_ROOT
from workshop.student_edition import CWD_LINES, LESSON_GLOB, student_notebook
from workshop.student_edition import lessons as english_lessons

IT_STUDENT_DIR = NOTEBOOKS_DIR / "student" / "it"


def build(lesson: Path) -> Built:
    """The Italian lesson as committed: translated, and the prologue put in front of the first code cell."""
    english = nbformat.read(lesson, as_version=4)
    path = translation_path(lesson)
    if not path.exists():
        return Built(lesson, None, [f"{path.relative_to(REPO_ROOT)} is missing"])
    built = translate(english, load(path), lesson.name)
    built.lesson = Path(lesson)
    if built.notebook is not None:
        first = next(c for c in built.notebook.cells if c.cell_type == "code")
        first.source = PROLOGUE + first.source
    return built


def student(italian: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The Italian student edition, made by the same generator as the English one; one prologue, in Italian."""
    lesson = copy.deepcopy(italian)
    first = next(c for c in lesson.cells if c.cell_type == "code")
    first.source = first.source.removeprefix(PROLOGUE)
    nb = student_notebook(lesson).notebook
    first = next(c for c in nb.cells if c.cell_type == "code")
    first.source = PROLOGUE + first.source.removeprefix("\n".join(CWD_LINES) + "\n\n")
    return nb



# ---------------------------------------------------------------- generate and check the committed edition

def render(nb) -> str:
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def translated_lessons(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """English lessons that have a translation file."""
    return [p for p in english_lessons(notebooks_dir) if translation_path(p).exists()]


def untranslated(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    return [p.name for p in english_lessons(notebooks_dir) if not translation_path(p).exists()]


def differences() -> list[str]:
    """Every way the committed Italian edition differs from what the English lessons and translations give."""
    found, names = [], set()
    lessons = {p.stem: p for p in english_lessons()}
    for path in sorted(TRANSLATIONS_DIR.glob("*.yml")):
        if path.stem not in lessons:
            found.append(f"{path.relative_to(REPO_ROOT)} has no English lesson notebooks/{path.stem}.ipynb")
    for lesson in translated_lessons():
        names.add(lesson.name)
        built = build(lesson)
        found += [f"it/{lesson.name}: {p}" for p in built.problems]
        if built.notebook is None:
            continue
        for target, nb in ((IT_DIR / lesson.name, built.notebook), (IT_STUDENT_DIR / lesson.name,
                                                                     student(built.notebook))):
            rel = target.relative_to(NOTEBOOKS_DIR)
            if not target.exists():
                found.append(f"{rel} is missing")
            elif target.read_text() != render(nb):
                found.append(f"{rel} differs from {lesson.name} + its translation (not regenerated)")
    for folder in (IT_DIR, IT_STUDENT_DIR):
        for stray in sorted(folder.glob(LESSON_GLOB)):
            if stray.name not in names:
                found.append(f"{stray.relative_to(NOTEBOOKS_DIR)} has no translation file")
    return found


def write() -> tuple[list[Path], list[str]]:
    """(Re)write the Italian editions; returns (files changed, problems of the lessons that could not be built)."""
    changed, problems = [], []
    for lesson in translated_lessons():
        built = build(lesson)
        if built.notebook is None:
            problems += [f"it/{lesson.name}: {p}" for p in built.problems]
            continue
        for target, nb in ((IT_DIR / lesson.name, built.notebook),
                           (IT_STUDENT_DIR / lesson.name, student(built.notebook))):
            target.parent.mkdir(parents=True, exist_ok=True)
            text = render(nb)
            if not target.exists() or target.read_text() != text:
                target.write_text(text)
                changed.append(target)
    return changed, problems



def find_lesson(name: str) -> Path:
    matches = [p for p in english_lessons() if p.name.startswith(name) or p.stem == name]
    if len(matches) != 1:
        raise SystemExit(f"no single English lesson matches {name!r}: {[p.name for p in matches]}")
    return matches[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report differences; exit 1 if any")
    parser.add_argument("--scaffold", nargs="+", metavar="NN", help="create/update these lessons' translation files")
    args = parser.parse_args(argv)
    if args.scaffold:
        for name in args.scaffold:
            lesson = find_lesson(name)
            report = scaffold(lesson)
            print(f"{translation_path(lesson).relative_to(REPO_ROOT)}: {len(report)} to do")
            for line in report:
                print(f"  {line}")
        return 0
    if args.check:
        found = differences()
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print("regenerate with: python -m workshop.italian (translate first what is stale or missing)",
                  file=sys.stderr)
        if untranslated():
            print(f"not translated yet (no translation file): {', '.join(untranslated())}")
        return 1 if found else 0
    changed, problems = write()
    for path in changed:
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    for line in problems:
        print(line, file=sys.stderr)
    if untranslated():
        print(f"not translated yet (no translation file): {', '.join(untranslated())}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
