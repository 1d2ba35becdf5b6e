"""Translation files, notebooks/it/translations/NN_*.yml: read, write, scaffold for a translator, and apply
to an English lesson (the format is described in workshop/italian.py)."""
import copy
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from workshop.italian_checks import italian_metadata, structure_problems
from workshop.italian_messages import message_spans, messages, placeholders
from workshop.paths import NOTEBOOKS_DIR
from workshop.student_edition import CHECK_TAG, tags

IT_DIR = NOTEBOOKS_DIR / "it"
TRANSLATIONS_DIR = IT_DIR / "translations"


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
                if placeholders(italian) != placeholders(literal):
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

