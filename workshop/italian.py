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
"""
import argparse
import ast
import copy
import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from workshop.lessons import bullets_after, normalize
from workshop.paths import NOTEBOOKS_DIR, REPO_ROOT
from workshop.student_edition import CHECK_TAG, CWD_LINES, LESSON_GLOB, student_notebook, tags
from workshop.student_edition import lessons as english_lessons

IT_DIR = NOTEBOOKS_DIR / "it"
TRANSLATIONS_DIR = IT_DIR / "translations"
IT_STUDENT_DIR = NOTEBOOKS_DIR / "student" / "it"
PROLOGUE = "\n".join((
    "import os",
    "from workshop.paths import NOTEBOOKS_DIR",
    "os.chdir(NOTEBOOKS_DIR)  # edizione italiana: si lavora da notebooks/, così ../app e ../models sono quelli della lezione",
)) + "\n\n"

# The Italian labels of notebooks/LESSON_CONVENTION (workshop/lessons.py reads the English ones).
LEARN, PREREQUISITES, CLOSING_HEADING, OPTIONAL = "Cosa imparerai", "Prerequisiti", "Punti chiave", " (opzionale)"
TIME = re.compile(r"\*\*Tempo:?\*\*:?\s*(\d+)\s*min di lezione\s*\+\s*(\d+)\s*min di esercizi")
YOUR_TURN = re.compile(r"^### Tocca a te (\d+) · (\S.*?) \((★{1,3})\)\s*$", re.M)
EN_YOUR_TURN = re.compile(r"^### Your turn (\d+) · (\S.*?) \((★{1,3})\)\s*$", re.M)
TITLE = re.compile(r"^# (\d\d) · \S")


# ---------------------------------------------------------------- the messages of a check cell

def _string_nodes(node) -> list[ast.expr]:
    """The string literals (plain or f-string) that make up a message: the expression itself, or the parts of a
    concatenation or conditional. Not strings used as code inside it (`card["version"]`, `", ".join(x)`)."""
    if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return [node]
    if isinstance(node, ast.BinOp):
        return _string_nodes(node.left) + _string_nodes(node.right)
    if isinstance(node, ast.IfExp):
        return _string_nodes(node.body) + _string_nodes(node.orelse)
    return []


def message_spans(source: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the literals a student reads: assert messages and the arguments of
    print(...) and raise X(...). Everything else in a check cell is code and is never translated."""
    tree = ast.parse(source)
    nodes = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.msg is not None:
            nodes += _string_nodes(node.msg)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            nodes += [s for arg in node.args for s in _string_nodes(arg)]
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            nodes += [s for arg in node.exc.args for s in _string_nodes(arg)]
    lines = source.encode().split(b"\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(lineno, col):  # ast columns count UTF-8 bytes
        return len((b"\n".join(lines))[:starts[lineno - 1] + col].decode())

    spans = {(offset(n.lineno, n.col_offset), offset(n.end_lineno, n.end_col_offset)) for n in nodes}
    return sorted(spans)


def messages(source: str) -> list[str]:
    return [source[a:b] for a, b in message_spans(source)]


def mask_messages(source: str) -> str:
    """The cell with every message literal replaced by the same placeholder: what must be identical."""
    try:
        spans = message_spans(source)
    except SyntaxError:
        return source
    for a, b in reversed(spans):
        source = source[:a] + '"<message>"' + source[b:]
    return source


def _placeholders(literal: str) -> list[str]:
    node = ast.parse(f"({literal})", mode="eval").body  # parentheses: a literal may span lines
    return sorted(ast.dump(v) for v in ast.walk(node) if isinstance(v, ast.FormattedValue))  # value, !r, :.3f


# ---------------------------------------------------------------- translation files

@dataclass
class Built:
    lesson: Path
    notebook: nbformat.NotebookNode | None = None
    problems: list[str] = field(default_factory=list)


def translation_path(lesson: Path) -> Path:
    return TRANSLATIONS_DIR / f"{Path(lesson).stem}.yml"


def load(path: Path) -> list[dict]:
    data = yaml.safe_load(Path(path).read_text()) or {}
    for entry in data.get("cells", []):
        if not isinstance(entry.get("id"), str):  # YAML reads 12345678 as a number and 00123456 as octal
            raise ValueError(f"{Path(path).name}: cell id {entry.get('id')!r} must be a quoted string")
    return data.get("cells", [])


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, text):
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _str)


def dump(lesson: Path, entries: list[dict]) -> str:
    head = (f"# Italian translation of notebooks/{Path(lesson).name}: edit `it`, never the code (it comes from the\n"
            f"# English lesson). Regenerate with: python -m workshop.italian\n")
    body = yaml.dump({"lesson": Path(lesson).name, "cells": entries}, Dumper=_Dumper, allow_unicode=True,
                     sort_keys=False, width=1000)
    return head + body


def translatable(nb) -> list[tuple[int, nbformat.NotebookNode]]:
    """(index, cell) of every cell with something to translate: markdown, and check cells with messages."""
    return [(i, c) for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown" or (CHECK_TAG in tags(c) and messages(c.source))]


def translate(english: nbformat.NotebookNode, entries: list[dict], name: str = "") -> Built:
    """The Italian lesson WITHOUT the prologue (see build) and every reason it cannot be built."""
    nb, problems = copy.deepcopy(english), []
    by_id = {e.get("id"): e for e in entries}
    wanted = {c.get("id") for _, c in translatable(english)}
    for entry in entries:
        if entry.get("id") not in wanted:
            problems.append(f"translation for cell id {entry.get('id')}, which the English lesson no longer has "
                            f"(remove it, or run --scaffold)")
    for i, cell in translatable(english):
        entry = by_id.get(cell.get("id"))
        where = f"cell {i} (id {cell.get('id')})"
        if entry is None:
            problems.append(f"translation missing: {where}")
            continue
        if cell.cell_type == "markdown":
            if not entry.get("it"):
                problems.append(f"translation missing: {where}")
            elif entry.get("stale") or entry.get("en") != cell.source:
                diff = "\n".join(difflib.unified_diff((entry.get("en") or "").split("\n"), cell.source.split("\n"),
                                                      "translated from", "English now", lineterm="", n=0))
                problems.append(f"translation stale: {where}: the English changed since it was translated"
                                + (f"\n{diff}" if diff and not entry.get("stale") else " (marked stale)"))
            else:
                nb.cells[i].source = entry["it"].rstrip("\n") if not cell.source.endswith("\n") else entry["it"]
            continue
        pairs = {s.get("en"): s.get("it") for s in entry.get("strings", [])}
        spans, source = message_spans(cell.source), cell.source
        for a, b in reversed(spans):
            literal = cell.source[a:b]
            italian = pairs.get(literal)
            if not italian:
                problems.append(f"translation missing: {where}, message {literal}")
                continue
            try:
                if _placeholders(italian) != _placeholders(literal):
                    problems.append(f"{where}: the Italian of {literal} must keep its {{...}} values, no others")
                    continue
            except SyntaxError:
                problems.append(f"{where}: the Italian of {literal} is not a Python string literal: {italian}")
                continue
            source = source[:a] + italian + source[b:]
        for stale in sorted(set(pairs) - set(messages(cell.source))):
            problems.append(f"translation stale: {where}: message {stale} is no longer in the English cell")
        nb.cells[i].source = source
    if not problems:
        problems += structure_problems(english, nb)
        nb.metadata["lesson"] = italian_metadata(english, nb)
        nb.metadata["translation"] = {"lang": "it", "source": f"../{name}" if name else ""}
    return Built(Path(name), nb if not problems else None, problems)


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


# ---------------------------------------------------------------- the Italian reads as the same lesson

def headings(source: str) -> list[int]:
    """Levels of the markdown headings, code blocks left out."""
    text = re.sub(r"```.*?```", "", source, flags=re.S)
    return [len(m.group(1)) for m in re.finditer(r"^(#{1,6}) ", text, re.M)]


def structure_problems(english, italian) -> list[str]:
    """What keeps the Italian from being the same lesson: cells, tags, headings, exercises, title, time."""
    found = []
    if [c.cell_type for c in english.cells] != [c.cell_type for c in italian.cells]:
        return [f"cell types differ: {len(english.cells)} English cells, {len(italian.cells)} Italian"]
    for i, (en, it) in enumerate(zip(english.cells, italian.cells, strict=True)):
        if tags(en) != tags(it):
            found.append(f"cell {i}: tags {tags(it)} differ from the English {tags(en)}")
        if en.cell_type != "markdown":
            continue
        if headings(en.source) != headings(it.source):
            found.append(f"cell {i}: heading levels {headings(it.source)} differ from the English {headings(en.source)}")
        en_turns, it_turns = EN_YOUR_TURN.findall(en.source), YOUR_TURN.findall(it.source)
        if [(n, s) for n, _, s in en_turns] != [(n, s) for n, _, s in it_turns]:
            found.append(f"cell {i}: exercises {[(n, s) for n, _, s in it_turns]} ('### Tocca a te N · titolo (★)') "
                         f"differ from the English {[(n, s) for n, _, s in en_turns]}")
        if (en.source.startswith("## ") or it.source.startswith("## ")) and (
                en.source.split("\n")[0].endswith(" (optional)") != it.source.split("\n")[0].endswith(OPTIONAL)):
            found.append(f"cell {i}: an optional section's heading ends with '{OPTIONAL}' in Italian")
    first_en, first_it = english.cells[0].source, italian.cells[0].source
    if not TITLE.match(first_it) or first_it[:5] != first_en[:5]:
        found.append("first cell must start with `# NN · Titolo`, NN as in English")
    if bullets_after(first_it, LEARN) is None:
        found.append(f"first cell has no **{LEARN}** bullets")
    if f"**{PREREQUISITES}" not in first_it:
        found.append(f"first cell has no **{PREREQUISITES}**")
    meta = english.metadata.get("lesson") or {}
    time = TIME.search(first_it)
    if not time:
        found.append("first cell has no `**Tempo**: T min di lezione + E min di esercizi`")
    elif meta and (int(time.group(1)), int(time.group(2))) != (meta.get("teaching"), meta.get("exercises")):
        found.append(f"**Tempo** says {time.group(1)} + {time.group(2)} min, the lesson "
                     f"{meta.get('teaching')} + {meta.get('exercises')}")
    if not italian.cells[-1].source.startswith(f"## {CLOSING_HEADING}"):
        found.append(f"last cell must start with `## {CLOSING_HEADING}`")
    if meta and not found:
        it_meta = italian_metadata(english, italian)
        for key in ("objectives", "keypoints", "sections"):
            if len(it_meta[key]) != len(meta.get(key, [])):
                found.append(f"{len(it_meta[key])} Italian {key}, {len(meta.get(key, []))} English")
    return found


def italian_metadata(english, italian) -> dict:
    """nb.metadata["lesson"] in Italian, read from the Italian cells (minutes and core flags from English)."""
    meta = copy.deepcopy(dict(english.metadata.get("lesson") or {}))
    last = italian.cells[-1].source.replace(f"## {CLOSING_HEADING}", f"**{CLOSING_HEADING}**", 1)
    meta["objectives"] = bullets_after(italian.cells[0].source, LEARN) or []
    meta["keypoints"] = bullets_after(last, CLOSING_HEADING) or []
    titles = [normalize(h) for c in italian.cells if c.cell_type == "markdown" and "instructor" not in tags(c)
              for h in re.findall(r"^## (.+)$", c.source, re.M) if normalize(h) != CLOSING_HEADING]
    sections = meta.get("sections", [])
    if len(titles) == len(sections):
        meta["sections"] = [{**s, "title": t.removesuffix(OPTIONAL)} for s, t in zip(sections, titles, strict=True)]
    else:
        meta["sections"] = [{"title": t.removesuffix(OPTIONAL), "core": not t.endswith(OPTIONAL)} for t in titles]
    return meta


# ---------------------------------------------------------------- the committed Italian edition vs English

def code_differences(english, italian) -> list[str]:
    """Every code cell of the Italian notebook must be the English one: the same cells in the same order with
    the same tags and source; the first may only add PROLOGUE in front; in `check` cells only the messages may
    differ. Independent of the generator: this reads the committed files. Names each differing cell and line."""
    en_code = [(i, c) for i, c in enumerate(english.cells) if c.cell_type == "code"]
    it_code = [(i, c) for i, c in enumerate(italian.cells) if c.cell_type == "code"]
    found = []
    if len(en_code) != len(it_code):
        found.append(f"{len(it_code)} code cells, the English lesson has {len(en_code)}")
    for k, ((ei, en), (ii, it)) in enumerate(zip(en_code, it_code, strict=False)):
        where = f"cell {ii} (code cell {k}, English cell {ei})"
        if tags(en) != tags(it):
            found.append(f"{where}: tags {tags(it)} differ from {tags(en)}")
        en_src, it_src = en.source, it.source
        if k == 0:
            if not it_src.startswith(PROLOGUE):
                found.append(f"{where}: must start with the Italian prologue (os.chdir(NOTEBOOKS_DIR))")
            it_src = it_src.removeprefix(PROLOGUE)
        if CHECK_TAG in tags(en):
            en_src, it_src = mask_messages(en_src), mask_messages(it_src)
        if en_src != it_src:
            en_lines, it_lines = en_src.split("\n"), it_src.split("\n")
            n = next((j for j, (a, b) in enumerate(zip(en_lines, it_lines, strict=False)) if a != b), min(len(en_lines),
                                                                                               len(it_lines)))
            found.append(f"{where} differs at line {n + 1}: English {en_lines[n] if n < len(en_lines) else '(end)'!r}"
                         f", Italian {it_lines[n] if n < len(it_lines) else '(end)'!r}")
    return found


IT_WORDS = frozenset("il lo la gli le di del della dei delle che è per un una non con si nel nella sono da al alla "
                     "dal dalla sul sulla questo questa ogni più anche ma se quando perché cosa ed tra già poi qui "
                     "dove".split())
EN_WORDS = frozenset("the and of to is that with for are this it on an be by from what which when you your not "
                     "does it's so than here each just there only its has have at as or but if can will".split())


def language_counts(text: str) -> tuple[int, int]:
    """(Italian, English) function words in the prose: code blocks, inline code and links left out."""
    text = re.sub(r"```.*?```|`[^`\n]*`|\]\([^)]*\)|<[^>\n]*>|https?://\S+", " ", text, flags=re.S)
    words = re.findall(r"[a-zà-ù']+", text.lower())
    return sum(w in IT_WORDS for w in words), sum(w in EN_WORDS for w in words)


def prose_problems(italian) -> list[str]:
    """The markdown reads as Italian: in each cell with a few sentences, Italian function words outnumber the
    English ones at least 3 to 1 (English terms of the trade like drift or alert are not function words)."""
    found = []
    for i, cell in enumerate(italian.cells):
        if cell.cell_type != "markdown":
            continue
        it, en = language_counts(cell.source)
        if it + en >= 4 and it < 3 * en:
            found.append(f"cell {i} reads as English ({it} Italian vs {en} English function words): "
                         f"{cell.source[:80]!r}")
    words = [language_counts(m) for c in italian.cells if CHECK_TAG in tags(c) for m in messages(c.source)]
    it, en = sum(w[0] for w in words), sum(w[1] for w in words)
    if it + en >= 6 and it < 3 * en:
        found.append(f"the check cells' messages read as English ({it} Italian vs {en} English function words)")
    return found


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


def scaffold(lesson: Path) -> list[str]:
    """Create or update a lesson's translation file: an entry per translatable cell in the English order, the
    Italian already written kept; new cells get `it: null`; an entry without `en` takes the current English
    (the translator wrote it from this text); a changed English cell gets its new `en` and `stale: true`."""
    path = translation_path(lesson)
    english = nbformat.read(lesson, as_version=4)
    old = {e.get("id"): e for e in (load(path) if path.exists() else [])}
    entries, report = [], []
    for i, cell in translatable(english):
        prev = old.pop(cell.get("id"), {})
        if cell.cell_type == "markdown":
            entry = {"id": cell.get("id"), "en": cell.source, "it": prev.get("it")}
            if prev.get("stale") or (prev.get("en") not in (None, cell.source) and prev.get("it")):
                entry["stale"] = True
                report.append(f"cell {i}: stale (update `it`, then delete `stale: true`)")
            elif not prev.get("it"):
                report.append(f"cell {i}: to translate")
        else:
            pairs = {s.get("en"): s.get("it") for s in prev.get("strings", [])}
            entry = {"id": cell.get("id"), "strings": [{"en": m, "it": pairs.get(m)} for m in messages(cell.source)]}
            report += [f"cell {i}: message to translate: {m}" for m in messages(cell.source) if not pairs.get(m)]
        entries.append(entry)
    report += [f"dropped the entry of cell id {k}: no longer in the English lesson" for k in old]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(lesson, entries))
    return report


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
