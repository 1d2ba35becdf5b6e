"""The notebooks are the source of truth for app/: each file there is written by notebook cells.

A file is written by one `%%writefile` cell, optionally followed (later in the same notebook, or in a
later notebook, in lesson order) by `%%writefile -a` cells that append to it: the file is the
concatenation of those chunks. A later lesson may restate a whole file with its own `%%writefile`
(re-running it is harmless, unlike an append): from then on that cell is the file's first chunk. `python -m workshop.nbsync` checks that every app/ file equals its
chunks (CI gate); `--update-notebooks` copies edited app/ files back into their cells. A file built
from several chunks is split again by anchoring each chunk on its first non-blank line, which must
stay unique; when an anchor is gone or ambiguous the tool stops and says which cell to fix by hand.
"""
import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from workshop.paths import APP_DIR, NOTEBOOKS_DIR, REPO_ROOT

MAGIC = "%%writefile"


@dataclass(frozen=True)
class Chunk:
    notebook: Path
    index: int      # cell index in the notebook
    content: str    # what the cell writes (or appends)
    magic: str      # the cell's first line, e.g. "%%writefile -a ../app/main.py"

    def where(self) -> str:
        return f"cell {self.index} of {self.notebook.name}"


class SplitError(ValueError):
    """An edited file cannot be cut back into its cells."""


def _parse(cell_source: str, notebooks_dir: Path) -> tuple[Path, bool] | None:
    first = cell_source.split("\n", 1)[0].strip()
    if not first.startswith(MAGIC):
        return None
    args = first[len(MAGIC):].split()
    append = "-a" in args[:-1] or "--append" in args[:-1]
    return (notebooks_dir / args[-1]).resolve(), append  # papermill and Jupyter run with cwd=notebooks/


def _body(cell_source: str) -> str:
    body = cell_source.split("\n", 1)[1] if "\n" in cell_source else ""
    return body if body.endswith("\n") else body + "\n"  # IPython ends a cell with a newline


def writefile_cells(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[Path, list[Chunk]]:
    """{app/ file: its chunks in lesson order}. Two `%%writefile` cells for one file in one notebook, or an
    append before the file is written, are errors; a later notebook's `%%writefile` replaces the file. Files a lesson writes outside app/ (scratch files) are not listed."""
    app_dir = Path(notebooks_dir).resolve().parent / APP_DIR.name
    found: dict[Path, list[Chunk]] = {}
    for nb_path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for i, cell in enumerate(nb.cells):
            parsed = _parse(cell.source, notebooks_dir) if cell.cell_type == "code" else None
            if parsed is None:
                continue
            target, append = parsed
            if not target.is_relative_to(app_dir):
                continue
            chunk = Chunk(nb_path, i, _body(cell.source), cell.source.split("\n", 1)[0])
            if not append and target in found:
                if found[target][0].notebook == nb_path:
                    raise ValueError(f"{target} is written by two cells: {found[target][0].where()} and "
                                     f"{chunk.where()} (use %%writefile -a to append)")
                del found[target]  # a later lesson restates the whole file (e.g. app/extensions.py)
            if append and target not in found:
                raise ValueError(f"{chunk.where()} appends to {target} before any cell writes it")
            found.setdefault(target, []).append(chunk)
    return found


def anchor(chunk: Chunk) -> tuple[str, int]:
    """A chunk's first non-blank line and how many blank lines precede it."""
    lines = chunk.content.split("\n")
    blanks = next((n for n, line in enumerate(lines) if line.strip()), None)
    if blanks is None:
        raise SplitError(f"{chunk.where()} writes only blank lines: nothing to anchor it on")
    return lines[blanks], blanks


def split(text: str, chunks: list[Chunk]) -> list[str]:
    """Cut `text` into len(chunks) pieces, each starting at its chunk's anchor line (deterministic)."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for chunk in chunks[1:]:
        line, blanks = anchor(chunk)
        after = starts[-1] + 1
        hits = [n for n in range(after, len(lines)) if lines[n].rstrip("\n") == line]
        if not hits:
            raise SplitError(f"the first line of {chunk.where()}, {line!r}, is gone from the file: "
                             "move that cell boundary by hand, then run the tool again")
        if len(hits) > 1:
            raise SplitError(f"the first line of {chunk.where()}, {line!r}, occurs {len(hits)} times after the "
                             "previous chunk: make it unique")
        start = hits[0] - blanks
        if start < after or any(lines[n].strip() for n in range(start, hits[0])):
            raise SplitError(f"{chunk.where()} starts with {blanks} blank line(s), the file has fewer before {line!r}")
        starts.append(start)
    bounds = starts + [len(lines)]
    return ["".join(lines[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


def problems(app_dir: Path = APP_DIR, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """Every way app/ and the %%writefile cells disagree (empty list: in sync)."""
    cells = writefile_cells(notebooks_dir)
    root = Path(app_dir).resolve().parent
    issues = []
    for path in sorted(app_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.resolve() not in cells:
            issues.append(f"{path.resolve().relative_to(root)} is not written by any notebook cell")
    for target, chunks in cells.items():
        rel = target.relative_to(root)
        expected = "".join(c.content for c in chunks)
        try:  # the chunks must be re-findable in their own file, or --update-notebooks could not work
            split(expected, chunks)
        except SplitError as exc:
            issues.append(f"{rel}: {exc}")
        if not target.exists():
            issues.append(f"{rel} ({chunks[0].where()}) is missing: run the notebook")
        elif (text := target.read_text()) != expected:
            issues.append(f"{rel} differs from {_first_difference(text, chunks).where()} (not in sync)")
    return issues


def _first_difference(text: str, chunks: list[Chunk]) -> Chunk:
    pos = 0
    for chunk in chunks:
        if text[pos:pos + len(chunk.content)] != chunk.content:
            return chunk
        pos += len(chunk.content)
    return chunks[-1]  # the file has extra text at the end


def update_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Copy each edited app/ file back into its cells; returns the notebooks changed.

    Every file is split before any notebook is written, so a SplitError leaves the notebooks untouched."""
    cells = writefile_cells(notebooks_dir)
    edits: dict[Path, dict[int, str]] = {}
    for target, chunks in cells.items():
        text = target.read_text() if target.exists() else None
        if text is None or text == "".join(c.content for c in chunks):
            continue
        for chunk, piece in zip(chunks, split(text, chunks), strict=True):
            if piece != chunk.content:
                edits.setdefault(chunk.notebook, {})[chunk.index] = chunk.magic + "\n" + piece.removesuffix("\n")
    for nb_path, sources in edits.items():
        nb = nbformat.read(nb_path, as_version=4)
        for index, source in sources.items():
            nb.cells[index].source = source
        nbformat.write(nb, nb_path)
    return sorted(edits)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--update-notebooks", action="store_true")
    args = parser.parse_args(argv)
    if args.update_notebooks:
        try:
            changed = update_notebooks()
        except SplitError as exc:
            print(f"cannot update the notebooks: {exc}", file=sys.stderr)
            return 2
        for nb_path in changed:
            print(f"updated {nb_path.relative_to(REPO_ROOT)}")
    issues = problems()
    for issue in issues:
        print(issue, file=sys.stderr)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
