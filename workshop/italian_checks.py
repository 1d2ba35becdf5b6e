"""Does the Italian edition pair with the English lesson? The Italian reads as the same lesson (headings,
exercises, title, time; nb.metadata["lesson"] derived from the Italian cells), its code is the English code, and
its prose reads as Italian. Used by the generator (workshop.italian) and by tests/test_italian.py."""
import copy
import re

from workshop.italian_messages import mask_messages, messages
from workshop.lessons import bullets_after, normalize
from workshop.student_edition import CHECK_TAG, tags

# The only change to the English code: moves the kernel to notebooks/, as the student edition does.
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

