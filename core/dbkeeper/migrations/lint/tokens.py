"""Tokens of one SQL statement, for the migration lint's rules.

The statements come already split by the dialect's splitter
(:mod:`dbkeeper.sql.split`); what a rule needs on top is a token stream
where a quoted identifier is one name token, a literal is one string token
and comments are gone, so ``ALTER TABLE "Order" ADD COLUMN x int DEFAULT
random()`` reads as words and names, not characters. No SQL parser is a
dependency of dbkeeper, and the rules only look at statement shapes (which
command, which table, which sub-clauses), so a tokenizer is enough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Token", "alter_table", "created_table", "name_at", "split_top_level", "tokenize", "words_of"]

WORD, NAME, STRING, NUMBER, PUNCT = "word", "name", "string", "number", "punct"

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<line>(?:--|\#)[^\n]*)
    |(?P<block>/\*.*?(?:\*/|\Z))
    |(?P<dollar>\$(?P<tag>[A-Za-z_]\w*)?\$.*?(?:\$(?P=tag)\$|\Z))
    |(?P<string>[EeNnXxBb]?'(?:[^'\\]|''|\\.)*(?:'|\Z))
    |(?P<dq>"(?:[^"]|"")*(?:"|\Z))
    |(?P<bq>`(?:[^`]|``)*(?:`|\Z))
    |(?P<br>\[[^\]]*(?:\]|\Z))
    |(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)
    |(?P<word>[^\W\d][\w$]*)
    |(?P<punct>::|<>|<=|>=|!=|\|\||.)""",
    re.VERBOSE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``kind`` is word, name (a quoted identifier), string, number or punct.

    ``value`` is the identifier without its quotes for names, the text
    otherwise; ``upper`` the upper-cased word for keyword tests (empty for
    anything but words); ``start``/``end`` its span in the statement.
    """

    kind: str
    value: str
    upper: str
    start: int
    end: int

    @property
    def ident(self) -> str:
        """The identifier this token names: quoted names as written, bare words folded to lower case."""
        return self.value if self.kind == NAME else self.value.lower()

    def is_word(self, *words: str) -> bool:
        return self.kind == WORD and self.upper in words


def tokenize(statement: str, *, brackets: bool = False, hash_comments: bool = False) -> list[Token]:
    """The tokens of ``statement`` without comments and whitespace.

    ``brackets`` reads ``[name]`` as a quoted identifier (SQLite);
    ``hash_comments`` reads ``# ...`` as a comment (MySQL). Without them both
    are punctuation, as the database would see them.
    """
    tokens: list[Token] = []
    for match in _TOKEN.finditer(statement):
        kind = match.lastgroup
        text = match.group()
        if kind == "tag":
            kind = "dollar"
        if kind in ("ws", "block"):
            continue
        if kind == "line":
            if text.startswith("--") or hash_comments:
                continue
            kind, text = "punct", "#"
        if kind == "br" and not brackets:
            tokens.append(Token(PUNCT, "[", "", match.start(), match.start() + 1))
            tokens.extend(tokenize(statement[match.start() + 1:match.end()], brackets=False,
                                   hash_comments=hash_comments))
            continue
        if kind in ("dq", "bq", "br"):
            inner = text[1:-1] if len(text) > 1 else ""
            quote = text[0]
            tokens.append(Token(NAME, inner.replace(quote * 2, quote) if quote != "[" else inner, "",
                                match.start(), match.end()))
        elif kind in ("string", "dollar"):
            tokens.append(Token(STRING, text, "", match.start(), match.end()))
        elif kind == "number":
            tokens.append(Token(NUMBER, text, "", match.start(), match.end()))
        elif kind == "word":
            tokens.append(Token(WORD, text, text.upper(), match.start(), match.end()))
        else:
            tokens.append(Token(PUNCT, text, "", match.start(), match.end()))
    return tokens


def name_at(tokens: list[Token], index: int) -> tuple[str | None, int]:
    """The (possibly schema-qualified) name starting at ``tokens[index]``: its last part and the next index.

    ``public."Order"`` gives ``("Order", index + 3)``; a token that is not a
    name gives ``(None, index)``.
    """
    if index >= len(tokens) or tokens[index].kind not in (WORD, NAME):
        return None, index
    name = tokens[index].ident
    index += 1
    while index + 1 < len(tokens) and tokens[index].value == "." and tokens[index + 1].kind in (WORD, NAME):
        name = tokens[index + 1].ident
        index += 2
    return name, index


def split_top_level(tokens: list[Token], separator: str = ",") -> list[list[Token]]:
    """``tokens`` cut at ``separator`` outside parentheses: the actions of one ``ALTER TABLE``."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.kind == PUNCT and token.value == "(":
            depth += 1
        elif token.kind == PUNCT and token.value == ")":
            depth -= 1
        elif depth == 0 and token.kind == PUNCT and token.value == separator:
            parts.append([])
            continue
        parts[-1].append(token)
    return [part for part in parts if part]


def alter_table(tokens: list[Token], *, skip: frozenset[str] = frozenset()) -> tuple[str, list[list[Token]]] | None:
    """``(table, actions)`` of an ``ALTER TABLE`` statement, else ``None``.

    Reads ``ALTER [word in skip ...] TABLE [IF EXISTS] [ONLY] name [*] action, action ...``;
    ``skip`` holds the dialect's words allowed between ``ALTER`` and
    ``TABLE`` (MySQL's ``ONLINE``, ``IGNORE``).
    """
    if not tokens or not tokens[0].is_word("ALTER"):
        return None
    i = 1
    while i < len(tokens) and tokens[i].kind == WORD and tokens[i].upper in skip:
        i += 1
    if i >= len(tokens) or not tokens[i].is_word("TABLE"):
        return None
    i += 1
    if i + 1 < len(tokens) and tokens[i].is_word("IF") and tokens[i + 1].is_word("EXISTS"):
        i += 2
    if i < len(tokens) and tokens[i].is_word("ONLY"):
        i += 1
    table, i = name_at(tokens, i)
    if table is None:
        return None
    if i < len(tokens) and tokens[i].value == "*":
        i += 1
    return table, split_top_level(tokens[i:])


def created_table(tokens: list[Token]) -> str | None:
    """The table a ``CREATE [modifiers] TABLE [IF NOT EXISTS] name`` statement makes, else ``None``."""
    if not tokens or not tokens[0].is_word("CREATE"):
        return None
    i = 1
    while i < len(tokens) and tokens[i].kind == WORD and tokens[i].upper in (
            "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL", "OR", "REPLACE", "VIRTUAL"):
        i += 1
    if i >= len(tokens) or not tokens[i].is_word("TABLE"):
        return None
    i += 1
    if i + 2 < len(tokens) and tokens[i].is_word("IF") and tokens[i + 1].is_word("NOT"):
        i += 3
    return name_at(tokens, i)[0]


def words_of(tokens: list[Token]) -> list[str]:
    """The upper-cased words of ``tokens`` (other tokens as empty strings), for keyword tests."""
    return [t.upper for t in tokens]
