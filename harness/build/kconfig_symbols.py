"""The tree's Kconfig read for its symbols: where each is defined, what it depends on,
and a `depends on` expression evaluated against a final .config (to say why a
requested value did not survive olddefconfig)."""

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SymbolInfo:
    where: list[str] = field(default_factory=list)  # Kconfig file:line of each definition
    depends: list[str] = field(default_factory=list)  # `depends on` and enclosing `if`
    has_prompt: bool = False


_CONFIG = re.compile(r"^\s*(?:menu)?config\s+(\w+)\s*$")
_SOURCE = re.compile(r'^\s*(o?r?source)\s+"([^"]+)"')
_BLOCK_START = ("if ", "menu ", "choice")
_BLOCK_END = ("endif", "endmenu", "endchoice")


def index_kconfig(tree: Path, arch: str = "x86") -> dict[str, SymbolInfo]:
    """Every symbol reachable from the tree's top Kconfig, with its dependencies.

    Follows `source` so that an entry inherits the `if` / `menu ... depends on`
    blocks around the line that sourced its file (EXT4_FS needs BLOCK that way).
    """
    symbols: dict[str, SymbolInfo] = {}
    _index_file(tree, tree / "Kconfig", [], symbols, arch)
    return symbols


def _index_file(tree: Path, file: Path, outer: list[str], symbols: dict[str, SymbolInfo], arch: str) -> None:
    blocks: list[list[str]] = []  # conditions of the enclosing if/menu/choice blocks in this file
    depends: list[str] | None = None  # where a `depends on` line goes
    symbol: SymbolInfo | None = None  # the entry a prompt line belongs to
    help_indent: int | None = None  # inside help text: its indentation, -1 before its first line
    try:
        text = file.read_text(errors="replace")
    except OSError:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if help_indent is not None:
            indent = len(line.expandtabs()) - len(line.expandtabs().lstrip())
            if not stripped or help_indent == -1 or indent >= help_indent:
                if stripped and help_indent == -1:
                    help_indent = indent
                continue
            help_indent = None
        keyword = stripped.split("#", 1)[0].strip()
        enclosing = outer + [c for block in blocks for c in block]
        if keyword in ("help", "---help---"):
            help_indent = -1
        elif match := _CONFIG.match(line):
            symbol = symbols.setdefault(match.group(1), SymbolInfo())
            symbol.where.append(f"{file.relative_to(tree)}:{number}")
            symbol.depends.extend(enclosing)
            depends = symbol.depends
        elif match := _SOURCE.match(line):
            pattern = match.group(2).replace("$(SRCARCH)", arch).replace("$SRCARCH", arch)
            relative = match.group(1) in ("rsource", "orsource")
            for sourced in sorted((file.parent if relative else tree).glob(pattern)):
                _index_file(tree, sourced, enclosing, symbols, arch)
            depends = symbol = None
        elif keyword.startswith(_BLOCK_START):
            blocks.append([keyword[3:].strip()] if keyword.startswith("if ") else [])
            depends, symbol = blocks[-1], None
        elif keyword in _BLOCK_END:
            if blocks:
                blocks.pop()
            depends = symbol = None
        elif keyword.startswith("comment "):
            depends = symbol = None
        elif depends is not None and keyword.startswith("depends on "):
            depends.append(keyword[len("depends on "):].strip())
        elif symbol is not None and re.match(r"^((bool|tristate|string|int|hex)\s+\S|prompt\s)", keyword):
            symbol.has_prompt = True


_TOKEN = re.compile(r"\s*(&&|\|\||!=|[!()=]|\"[^\"]*\"|[\w.-]+)")


def evaluate(expression: str, final: dict[str, str]) -> bool:
    """Evaluate a Kconfig `depends on` expression against a final .config (m counts as y)."""
    tokens = _TOKEN.findall(expression)
    position = 0

    def value(token: str) -> str:
        if token.startswith('"'):
            return token.strip('"')
        if token in ("y", "m", "n"):
            return token
        return final.get(token, "n").strip('"')

    def primary() -> str:
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "!":
            return "n" if truthy(primary()) else "y"
        if token == "(":
            result = either()
            position += 1  # ")"
            return "y" if result else "n"
        left = value(token)
        if position < len(tokens) and tokens[position] in ("=", "!="):
            operator, right = tokens[position], value(tokens[position + 1])
            position += 2
            return "y" if (left == right) == (operator == "=") else "n"
        return left

    def truthy(text: str) -> bool:
        return text not in ("n", "")

    def both() -> bool:
        nonlocal position
        result = truthy(primary())
        while position < len(tokens) and tokens[position] == "&&":
            position += 1
            result = truthy(primary()) and result
        return result

    def either() -> bool:
        nonlocal position
        result = both()
        while position < len(tokens) and tokens[position] == "||":
            position += 1
            result = both() or result
        return result

    try:
        return either()
    except IndexError:
        return True  # an expression we cannot read must not invent a cause


def explain_drop(symbol: str, info: SymbolInfo, final: dict[str, str]) -> str:
    """Why a requested value did not survive, as Kconfig states it."""
    unmet = []
    for expression in dict.fromkeys(info.depends):
        if not evaluate(expression, final):
            names = dict.fromkeys(re.findall(r"\b([A-Z][A-Z0-9_]+)\b", expression))
            state = ", ".join(f"{name}={final.get(name, 'n')}" for name in names)
            unmet.append(f"{symbol} depends on {expression} ({state})")
    if unmet:
        return "; ".join(unmet)
    if not info.has_prompt:
        return f"{symbol} has no prompt: it can only be selected by another option"
    return f"{symbol} is defined at {', '.join(info.where)}; check its choice, range and select constraints"
