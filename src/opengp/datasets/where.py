"""The ``where`` parameter: a small, safe SQL subset, evaluated on a data frame.

A where clause is tokenized and parsed here into a tree, and the tree is
evaluated with pandas on the layer's columns: no SQL text is ever built or
handed to a database, so there is nothing to inject into.  Anything outside
the subset is refused with a sentence naming what and where.

Supported: comparisons (``= <> != < <= > >=``), ``AND``/``OR``/``NOT`` and
parentheses, ``[NOT] IN (...)``, ``[NOT] BETWEEN a AND b``, ``[NOT] LIKE``
(``%`` and ``_``, optional ``ESCAPE``), ``IS [NOT] NULL``, ``UPPER()`` and
``LOWER()``, string (``'it''s'``), number, ``DATE '...'`` and
``TIMESTAMP '...'`` literals, and field names (case-insensitive, or
``"quoted"``).  NULL follows SQL's three-valued logic: a comparison with a
null is unknown, and unknown rows are not selected.

Whatever can go wrong is found while parsing (a quoted text beside a date is
read as a date then), so evaluating a parsed clause does not fail; LIKE is
matched without a backtracking regex, in time linear in the value.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

NUMBER, TEXT, DATE = "number", "text", "date"
MAX_LENGTH = 100_000
MAX_DEPTH = 64
FUNCTIONS = {"UPPER": str.upper, "LOWER": str.lower}
KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "IS", "NULL", "ESCAPE", "DATE", "TIMESTAMP"}
# SQL that is not part of the subset: named in the error rather than read as a field
FOREIGN = {"SELECT", "FROM", "WHERE", "UNION", "DROP", "DELETE", "INSERT", "UPDATE", "CREATE", "ALTER",
           "EXEC", "EXECUTE", "JOIN", "HAVING", "GROUP", "ORDER", "LIMIT", "INTO", "TABLE", "PRAGMA",
           "ATTACH", "CASE", "WHEN", "THEN", "ELSE", "END", "CAST", "EXISTS", "ALL", "ANY", "SOME",
           "TRUNCATE", "GRANT", "REVOKE", "OFFSET", "VALUES", "WITH", "DECLARE", "SET"}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "<>": operator.ne, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


class WhereError(ValueError):
    """A where clause outside the subset, or naming an unknown field."""


@dataclass(frozen=True)
class Field:
    """A column a where clause may name: its frame column and its kind (number, text, date)."""

    column: str
    kind: str


# -- tokens ------------------------------------------------------------------

@dataclass(frozen=True)
class _Tok:
    kind: str          # num, str, id, qid, op, punct, end
    value: Any
    pos: int


_NUM = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tokenize(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith(("--", "/*"), i):
            raise WhereError(f"comments are not allowed (position {i})")
        elif c == ";":
            raise WhereError(f"';' is not allowed: a where clause is one condition (position {i})")
        elif c == "'":
            start = i
            value, i = _quoted(text, i, "'", "string")
            out.append(_Tok("str", value, start))
        elif c == '"':
            start = i
            value, i = _quoted(text, i, '"', "quoted field name")
            out.append(_Tok("qid", value, start))
        elif m := _NUM.match(text, i):
            literal = m.group(0)
            value: Any = float(literal) if any(ch in literal for ch in ".eE") else int(literal)
            out.append(_Tok("num", value, i))
            i = m.end()
        elif m := _ID.match(text, i):
            out.append(_Tok("id", m.group(0), i))
            i = m.end()
        elif text.startswith(("<>", "!=", "<=", ">="), i):
            out.append(_Tok("op", text[i:i + 2], i))
            i += 2
        elif c in "=<>":
            out.append(_Tok("op", c, i))
            i += 1
        elif c in "(),+-*/":          # never valid, but named by the parser where they stand
            out.append(_Tok("punct", c, i))
            i += 1
        else:
            raise WhereError(f"unexpected character {c!r} at position {i}")
    out.append(_Tok("end", None, n))
    return out


def _quoted(text: str, start: int, quote: str, what: str) -> tuple[str, int]:
    """A quoted string from ``start``; a doubled quote is one quote."""
    i, parts = start + 1, []
    while True:
        j = text.find(quote, i)
        if j < 0:
            raise WhereError(f"unterminated {what} starting at position {start}")
        parts.append(text[i:j])
        if text.startswith(quote * 2, j):
            parts.append(quote)
            i = j + 2
        else:
            return "".join(parts), j + 1


# -- tree ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Operand:
    kind: str                  # number, text, date
    field: str | None = None   # frame column, or None for a literal
    value: Any = None
    func: str | None = None    # UPPER / LOWER applied to it
    pos: int = 0               # where a literal stands (for errors)


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, Field]) -> None:
        self.toks = tokenize(text)
        self.at = 0
        self.fields = {k.lower(): v for k, v in fields.items()}
        self.names = list(fields)
        self.depth = 0

    # helpers
    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.at + offset, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.at += 1
        return tok

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        if tok.kind == "id" and tok.value.upper() in words:
            self.at += 1
            return True
        return False

    def expect_keyword(self, word: str, after: str) -> None:
        if not self.keyword(word):
            raise WhereError(f"expected {word} after {after}, found {_show(self.peek())}")

    def expect(self, punct: str, what: str) -> None:
        tok = self.next()
        if tok.kind != "punct" or tok.value != punct:
            raise WhereError(f"expected {punct!r} {what}, found {_show(tok)}")

    # grammar
    def parse(self) -> Any:
        if self.peek().kind == "end":
            raise WhereError("the where clause is empty")
        tree = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            raise WhereError(f"unexpected {_show(tok)}; a condition ended before it")
        return tree

    def or_expr(self) -> Any:
        terms = [self.and_expr()]
        while self.keyword("OR"):
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def and_expr(self) -> Any:
        terms = [self.not_expr()]
        while self.keyword("AND"):
            terms.append(self.not_expr())
        return terms[0] if len(terms) == 1 else ("and", terms)

    def not_expr(self) -> Any:
        if self.keyword("NOT"):
            with _Deeper(self):
                return ("not", self.not_expr())
        return self.predicate()

    def predicate(self) -> Any:
        tok = self.peek()
        if tok.kind == "punct" and tok.value == "(":
            self.at += 1
            with _Deeper(self):
                inner = self.or_expr()
            self.expect(")", f"to close the '(' at position {tok.pos}")
            return inner
        left = self.operand()
        tok = self.peek()
        if tok.kind == "op":
            self.at += 1
            if self.keyword("NULL"):
                raise WhereError(f"'{tok.value} NULL' is never true; use IS NULL or IS NOT NULL")
            left, right = _comparable([left, self.operand()], tok.value)
            return ("cmp", tok.value, left, right)
        if self.keyword("IS"):
            negate = self.keyword("NOT")
            self.expect_keyword("NULL", "IS" + (" NOT" if negate else ""))
            return ("null", left, negate)
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            left, *items = _comparable([left, *self.in_list()], "IN")
            return ("in", left, [item.value for item in items], negate)
        if self.keyword("BETWEEN"):
            low = self.operand()
            self.expect_keyword("AND", "BETWEEN's lower bound")
            high = self.operand()
            left, low, high = _comparable([left, low, high], "BETWEEN")
            return ("between", left, low, high, negate)
        if self.keyword("LIKE"):
            return ("like", left, self.like_pattern(left), negate)
        after = "NOT" if negate else _describe(left)
        raise WhereError(f"expected a comparison, IN, BETWEEN, LIKE or IS after {after}, found {_show(tok)}")

    def in_list(self) -> list[_Operand]:
        self.expect("(", "after IN")
        if self.peek().kind == "id" and self.peek().value.upper() in FOREIGN:
            raise WhereError(f"subqueries are not supported (position {self.peek().pos})")
        values = []
        while True:
            values.append(self.literal())
            tok = self.next()
            if tok.kind == "punct" and tok.value == ")":
                return values
            if not (tok.kind == "punct" and tok.value == ","):
                raise WhereError(f"expected ',' or ')' in the IN list, found {_show(tok)}")

    def like_pattern(self, left: _Operand) -> LikePattern:
        if left.kind != TEXT:
            raise WhereError(f"LIKE needs a text field, but {_describe(left)} is a {left.kind}")
        tok = self.next()
        if tok.kind != "str":
            raise WhereError(f"LIKE needs a quoted pattern such as 'Ab%', found {_show(tok)}")
        escape = None
        if self.keyword("ESCAPE"):
            esc = self.next()
            if esc.kind != "str" or len(esc.value) != 1:
                raise WhereError("ESCAPE needs one character in quotes, such as ESCAPE '\\'")
            escape = esc.value
        return LikePattern(tok.value, escape)

    def operand(self) -> _Operand:
        tok = self.peek()
        if tok.kind == "id" and tok.value.upper() in FUNCTIONS and self.peek(1).value == "(":
            self.at += 2
            with _Deeper(self):            # UPPER(UPPER(...)) nests like parentheses
                inner = self.operand()
            self.expect(")", f"to close {tok.value.upper()}(")
            if inner.kind != TEXT:
                raise WhereError(f"{tok.value.upper()}() needs text, but {_describe(inner)} is a {inner.kind}")
            if inner.field is None:
                return _Operand(TEXT, value=FUNCTIONS[tok.value.upper()](inner.value), pos=inner.pos)
            return _Operand(TEXT, field=inner.field, func=tok.value.upper())
        if tok.kind in ("id", "qid"):
            return self.field_or_literal()
        return self.literal()

    def field_or_literal(self) -> _Operand:
        tok = self.peek()
        if tok.kind == "id":
            word = tok.value.upper()
            if word in ("DATE", "TIMESTAMP") and self.peek(1).kind == "str":
                return self.literal()
            if self.peek(1).kind == "punct" and self.peek(1).value == "(":
                raise WhereError(f"unknown function {tok.value!r} at position {tok.pos}; "
                                 f"supported: {', '.join(FUNCTIONS)}")
            if word in FOREIGN:
                raise WhereError(f"SQL keyword {word} (position {tok.pos}) is not supported in a where clause")
            if word in KEYWORDS:
                raise WhereError(f"expected a field or a value, found {word} at position {tok.pos}")
        self.at += 1
        field = self.fields.get(tok.value.lower())
        if field is None:
            raise WhereError(f"unknown field {tok.value!r} at position {tok.pos}; "
                             f"fields are: {', '.join(self.names)}")
        return _Operand(field.kind, field=field.column)

    def literal(self) -> _Operand:
        tok = self.next()
        if tok.kind == "punct" and tok.value in "+-" and self.peek().kind == "num":
            number = self.next().value
            return _Operand(NUMBER, value=-number if tok.value == "-" else number)
        if tok.kind == "num":
            return _Operand(NUMBER, value=tok.value, pos=tok.pos)
        if tok.kind == "str":
            return _Operand(TEXT, value=tok.value, pos=tok.pos)
        if tok.kind == "id" and tok.value.upper() in ("DATE", "TIMESTAMP"):
            text = self.next()
            if text.kind != "str":
                raise WhereError(f"{tok.value.upper()} needs a quoted value such as '2024-01-31'")
            return _Operand(DATE, value=_date(text.value, text.pos), pos=tok.pos)
        if tok.kind == "id" and tok.value.upper() == "NULL":
            raise WhereError("NULL cannot be compared or listed; use IS NULL or IS NOT NULL")
        raise WhereError(f"expected a value, found {_show(tok)}")


class _Deeper:
    def __init__(self, parser: _Parser) -> None:
        self.parser = parser

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_DEPTH:
            raise WhereError(f"the where clause nests more than {MAX_DEPTH} levels deep")

    def __exit__(self, *exc: Any) -> None:
        self.parser.depth -= 1


def _show(tok: _Tok) -> str:
    if tok.kind == "end":
        return "the end of the clause"
    if tok.kind == "str":
        return f"'{tok.value}' at position {tok.pos}"
    return f"{tok.value!r} at position {tok.pos}"


def _describe(op: _Operand) -> str:
    if op.field is None:
        return repr(op.value)
    return f"{op.func}({op.field})" if op.func else f"field {op.field!r}"


def _comparable(operands: list[_Operand], what: str) -> list[_Operand]:
    """``operands`` (compared in ``what``) made comparable, or WhereError.

    Beside a date, a text literal is read as a date now (``date_field > '2024-01-31'``,
    as ArcGIS does), so a bad one is a parse error, not a failure while evaluating;
    a text *field* beside a date is refused."""
    if any(op.kind == DATE for op in operands):
        dated = next(op for op in operands if op.kind == DATE)
        out = []
        for op in operands:
            if op.kind == TEXT and op.field is None:
                op = _Operand(DATE, value=_date(op.value, op.pos), pos=op.pos)
            elif op.kind == TEXT:
                raise WhereError(f"cannot compare {_describe(op)} (text) with {_describe(dated)} (date) in {what}; "
                                 f"only a quoted date such as '2024-01-31' may stand beside a date")
            out.append(op)
        operands = out
    for other in operands[1:]:
        _same_kind(operands[0], other, what)
    return operands


def _same_kind(left: _Operand, right: _Operand, what: str) -> None:
    if left.kind == right.kind:
        return
    raise WhereError(f"cannot compare {_describe(left)} ({left.kind}) with {_describe(right)} "
                     f"({right.kind}) in {what}" + ("; quote text values" if NUMBER in (left.kind, right.kind)
                                                     and TEXT in (left.kind, right.kind) else ""))


def _date(text: str, pos: int) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text.strip())
    except (ValueError, TypeError):
        raise WhereError(f"not a date: '{text}' at position {pos}; use 'YYYY-MM-DD' or "
                         f"'YYYY-MM-DD HH:MM:SS'") from None
    if pd.isna(stamp):
        raise WhereError(f"not a date: '{text}' at position {pos}")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


class LikePattern:
    """A LIKE pattern (``%`` any run, ``_`` one character, optional ESCAPE character), matched
    in time linear in the value's length times the pattern's: never a backtracking regex.

    The pattern is split on ``%`` into segments of fixed length; the first must match at the
    start, the last at the end, and each one between at its leftmost place after the one
    before (taking the leftmost match never loses one, so no backtracking is needed).
    Matching is case-sensitive; compare ``UPPER(field)`` for the other kind.
    """

    def __init__(self, pattern: str, escape: str | None = None) -> None:
        self.pattern = pattern
        segments: list[list[str | None]] = [[]]     # a character, or None for ``_``
        i = 0
        while i < len(pattern):
            c = pattern[i]
            if escape is not None and c == escape and i + 1 < len(pattern):
                segments[-1].append(pattern[i + 1])
                i += 2
                continue
            if c == "%":
                segments.append([])
            else:
                segments[-1].append(None if c == "_" else c)
            i += 1
        self.exact = len(segments) == 1       # no %: the value is as long as the pattern
        self.first = _Segment(segments[0])
        self.last = _Segment(segments[-1])
        self.middle = [_Segment(s) for s in segments[1:-1] if s]

    def matches(self, value: str) -> bool:
        """Whether all of ``value`` matches the pattern."""
        first, last = self.first, self.last
        if self.exact:
            return len(value) == first.size and first.at(value, 0)
        end = len(value) - last.size
        if end < first.size or not first.at(value, 0) or not last.at(value, end):
            return False
        at = first.size
        for segment in self.middle:
            found = segment.find(value, at, end)
            if found < 0:
                return False
            at = found + segment.size
        return True


class _Segment:
    """A run of a LIKE pattern between two ``%``: characters and ``_`` wildcards."""

    def __init__(self, chars: list[str | None]) -> None:
        self.size = len(chars)
        self.text = None if None in chars else "".join(chars)     # no wildcard: str.find
        # with wildcards: a regex of single characters and '.', which has nothing to backtrack over
        self.regex = None if self.text is not None else re.compile(
            "".join("." if c is None else re.escape(c) for c in chars), re.DOTALL)

    def at(self, value: str, start: int) -> bool:
        if self.text is not None:
            return value.startswith(self.text, start)
        return self.regex.match(value, start) is not None   # type: ignore[union-attr]

    def find(self, value: str, start: int, end: int) -> int:
        """The leftmost place in ``value[start:end]`` where the segment fits, or -1."""
        if self.text is not None:
            return value.find(self.text, start, end)
        found = self.regex.search(value, start, end)         # type: ignore[union-attr]
        return -1 if found is None else found.start()


# -- evaluation ----------------------------------------------------------------

@dataclass(frozen=True)
class Where:
    """A parsed where clause; ``mask(frame)`` selects its rows."""

    text: str
    tree: Any

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        value, known = _eval(self.tree, frame)
        return value & known


def parse_where(text: str, fields: Mapping[str, Field]) -> Where:
    """Parse ``text`` against the layer's ``fields`` (by name); WhereError says what is wrong."""
    if len(text) > MAX_LENGTH:
        raise WhereError(f"the where clause is longer than {MAX_LENGTH} characters")
    return Where(text, _Parser(text, fields).parse())


Truth = tuple[np.ndarray, np.ndarray]       # (value, known): SQL's true / false / unknown


def _eval(node: Any, frame: pd.DataFrame) -> Truth:
    n = len(frame)
    kind = node[0]
    if kind in ("and", "or"):
        value, known = _eval(node[1][0], frame)
        for term in node[1][1:]:
            v2, k2 = _eval(term, frame)
            if kind == "and":
                known = (known & k2) | (known & ~value) | (k2 & ~v2)
                value = value & v2
            else:
                known = (known & k2) | (known & value) | (k2 & v2)
                value = (value & known) | (v2 & k2)
        return value, known
    if kind == "not":
        value, known = _eval(node[1], frame)
        return ~value, known
    if kind == "null":
        values, nulls = _values(node[1], frame)
        isnull = np.broadcast_to(nulls, (n,)).copy()
        return (~isnull if node[2] else isnull), np.ones(n, bool)
    if kind == "cmp":
        return _compare(node[1], node[2], node[3], frame)
    if kind == "between":
        _, left, low, high, negate = node
        v1, k1 = _compare(">=", left, low, frame)
        v2, k2 = _compare("<=", left, high, frame)
        known = (k1 & k2) | (k1 & ~v1) | (k2 & ~v2)
        value = v1 & v2
        return (~value if negate else value), known
    if kind == "in":
        _, left, items, negate = node
        values, nulls = _values(left, frame)
        hit = np.broadcast_to(pd.Series(values).isin(items).to_numpy() if isinstance(values, np.ndarray)
                              else np.asarray(values in items), (n,)).copy()
        known = ~np.broadcast_to(nulls, (n,))
        return (~hit if negate else hit), known.copy()
    if kind == "like":
        _, left, pattern, negate = node
        values, nulls = _values(left, frame)
        if isinstance(values, np.ndarray):
            hit = np.fromiter((pattern.matches(v) for v in values), bool, len(values))
        else:
            hit = np.full(n, pattern.matches(values))
        return (~hit if negate else hit), ~np.broadcast_to(nulls, (n,)).copy()
    raise AssertionError(kind)


def _values(op: _Operand, frame: pd.DataFrame) -> tuple[Any, Any]:
    """An operand's values (nulls filled so comparisons never raise) and where it is null."""
    if op.field is None:
        return op.value, False
    series = frame[op.field]
    nulls = series.isna().to_numpy()
    if op.kind == TEXT:
        values = np.array(["" if isnull else str(v) for v, isnull in zip(series.to_numpy(), nulls)], dtype=object)
        if op.func:
            fn = FUNCTIONS[op.func]
            values = np.array([fn(v) for v in values], dtype=object)
        return values, nulls
    if op.kind == DATE:
        return series.to_numpy(dtype="datetime64[ns]"), nulls
    return series.to_numpy(dtype=float, na_value=np.nan), nulls


def _compare(op: str, left: _Operand, right: _Operand, frame: pd.DataFrame) -> Truth:
    n = len(frame)
    a, na = _values(left, frame)
    b, nb = _values(right, frame)
    if DATE in (left.kind, right.kind):      # both dates (the parser saw to that)
        a = np.datetime64(a) if isinstance(a, pd.Timestamp) else a
        b = np.datetime64(b) if isinstance(b, pd.Timestamp) else b
    value = np.broadcast_to(np.asarray(_COMPARE[op](a, b), dtype=bool), (n,)).copy()
    known = ~np.broadcast_to(np.logical_or(na, nb), (n,))
    return value, known.copy()
