"""The messages of a `check` cell: the string literals a student reads (assert messages, print and raise
arguments), the only part of a code cell the Italian edition translates (workshop.italian)."""
import ast


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


def placeholders(literal: str) -> list[str]:
    node = ast.parse(f"({literal})", mode="eval").body  # parentheses: a literal may span lines
    return sorted(ast.dump(v) for v in ast.walk(node) if isinstance(v, ast.FormattedValue))  # value, !r, :.3f

