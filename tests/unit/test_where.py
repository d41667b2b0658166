"""The where-clause subset: every construct, precedence, NULL logic, and refusals
(injection attempts are errors or plain data, never executed)."""
from __future__ import annotations

import fnmatch

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opengp.datasets.where import DATE, NUMBER, TEXT, Field, LikePattern, WhereError, parse_where, tokenize

FRAME = pd.DataFrame({
    "OBJECTID": [1, 2, 3, 4, 5, 6],
    "name": ["Alpha", "beta", "Gamma", None, "O'Brien", "50% off"],
    "pop": [100.0, 2500.0, np.nan, 40.0, 900.0, 0.0],
    "kind": ["city", "town", "town", "village", None, "village"],
    "founded": pd.to_datetime(["2001-05-01", "1999-12-31", None, "2020-01-01 12:00", "1850-07-04", "2010-01-01"], format="ISO8601"),
})
FIELDS = {"OBJECTID": Field("OBJECTID", NUMBER), "name": Field("name", TEXT), "pop": Field("pop", NUMBER),
          "kind": Field("kind", TEXT), "founded": Field("founded", DATE)}


def ids(where: str) -> list[int]:
    mask = parse_where(where, FIELDS).mask(FRAME)
    return [int(i) for i in FRAME["OBJECTID"][mask]]


def refused(where: str) -> str:
    with pytest.raises(WhereError) as err:
        ids(where)
    return str(err.value)


@pytest.mark.parametrize("where, expected", [
    ("1=1", [1, 2, 3, 4, 5, 6]),
    ("1=0", []),
    ("pop = 100", [1]),
    ("pop <> 100", [2, 4, 5, 6]),          # NULL pop (3) is neither equal nor unequal
    ("pop != 100", [2, 4, 5, 6]),
    ("pop < 100", [4, 6]),
    ("pop <= 100", [1, 4, 6]),
    ("pop > 900", [2]),
    ("pop >= 900", [2, 5]),
    ("pop > -1.5e1", [1, 2, 4, 5, 6]),
    ("100 < pop", [2, 5]),
    ("kind = 'town'", [2, 3]),
    ("kind < 'town'", [1]),
    ("name = 'O''Brien'", [5]),
    ("OBJECTID = 3", [3]),
    ("objectid = 3", [3]),                  # field names ignore case
    ('"kind" = \'city\'', [1]),             # and may be quoted
    ("kind IN ('city', 'village')", [1, 4, 6]),
    ("kind NOT IN ('city', 'village')", [2, 3]),   # NULL kind (5) is unknown
    ("OBJECTID IN (1, 3, 99)", [1, 3]),
    ("pop BETWEEN 40 AND 900", [1, 4, 5]),
    ("pop NOT BETWEEN 40 AND 900", [2, 6]),
    ("name LIKE 'A%'", [1]),
    ("name LIKE '%a'", [1, 2, 3]),
    ("name LIKE '_eta'", [2]),
    ("name NOT LIKE '%a'", [5, 6]),
    ("name LIKE '50!% off' ESCAPE '!'", [6]),
    ("name LIKE '50% off'", [6]),
    ("UPPER(name) = 'BETA'", [2]),
    ("LOWER(name) LIKE 'g%'", [3]),
    ("upper(name) LIKE 'A%'", [1]),
    ("name IS NULL", [4]),
    ("name IS NOT NULL", [1, 2, 3, 5, 6]),
    ("pop IS NULL", [3]),
    ("founded IS NULL", [3]),
    ("founded > DATE '2005-01-01'", [4, 6]),
    ("founded < TIMESTAMP '1999-12-31 00:00:01'", [2, 5]),
    ("founded >= '2010-01-01'", [4, 6]),
    ("founded BETWEEN DATE '1999-01-01' AND DATE '2002-01-01'", [1, 2]),
    ("founded BETWEEN '1999-01-01' AND '2002-01-01'", [1, 2]),
    ("'2005-01-01' < founded", [4, 6]),
    ("founded IN ('2010-01-01', DATE '1850-07-04')", [5, 6]),
    ("founded NOT IN ('2010-01-01')", [1, 2, 4, 5]),
    ("DATE '2001-01-01' = '2001-01-01'", [1, 2, 3, 4, 5, 6]),
    # precedence: NOT binds tighter than AND, AND tighter than OR
    ("kind = 'city' OR kind = 'town' AND pop > 1000", [1, 2]),
    ("(kind = 'city' OR kind = 'town') AND pop > 1000", [2]),
    ("NOT kind = 'town' AND pop > 50", [1]),      # NOT unknown (5's NULL kind) stays unknown
    ("NOT (kind = 'town' AND pop > 50)", [1, 4, 6]),
    ("NOT NOT kind = 'city'", [1]),
    ("((((pop = 100))))", [1]),
    # three-valued logic: unknown OR true is true, unknown AND false is false
    ("pop > 50 OR kind = 'town'", [1, 2, 3, 5]),
    ("NOT (pop > 50 AND kind = 'city')", [2, 3, 4, 6]),
    ("NOT (pop > 5000)", [1, 2, 4, 5, 6]),
    ("pop > 50 AND kind = 'town'", [2]),
    ("kind = kind", [1, 2, 3, 4, 6]),
    ("'a' = 'a'", [1, 2, 3, 4, 5, 6]),
    ("UPPER('a') = 'A'", [1, 2, 3, 4, 5, 6]),
])
def test_constructs(where: str, expected: list[int]) -> None:
    assert ids(where) == expected


@pytest.mark.parametrize("where", [
    "name = 'x' OR 1=1",            # a classic tautology is just a valid condition here, and selects all
])
def test_tautology_is_only_a_condition(where: str) -> None:
    assert ids(where) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("where, says", [
    ("1=1; DROP TABLE x", "';' is not allowed"),
    ("name = 'a'; DELETE FROM places", "';' is not allowed"),
    ("name = 'a' OR 1=1 --", "comments are not allowed"),
    ("name = 'a' /* hi */", "comments are not allowed"),
    ("name = 'a", "unterminated string"),
    ("name = 'a'' OR ''1''=''1", "unterminated string"),
    ('"name = 1', "unterminated quoted field name"),
    ("nope = 1", "unknown field 'nope'"),
    ("SLEEP(5) = 0", "unknown function 'SLEEP'"),
    ("CHAR(65) = 'A'", "unknown function 'CHAR'"),
    ("name IN (SELECT name FROM users)", "subqueries are not supported"),
    ("SELECT * FROM places", "SQL keyword SELECT"),
    ("name = 'a' UNION SELECT 1", "unexpected 'UNION'"),
    ("pop = 1 EXEC xp_cmdshell", "unexpected 'EXEC'"),
    ("pop = 'ten'", "cannot compare field 'pop' (number) with 'ten' (text)"),
    ("name = 5", "cannot compare field 'name' (text) with 5 (number)"),
    ("name = NULL", "IS NULL"),
    ("name IN ('a', NULL)", "IS NULL"),
    ("pop LIKE '1%'", "LIKE needs a text field"),
    ("name LIKE name", "LIKE needs a quoted pattern"),
    ("UPPER(pop) = 'A'", "UPPER() needs text"),
    ("", "empty"),
    ("   ", "empty"),
    ("pop >", "expected a value"),
    ("pop", "expected a comparison"),
    ("(pop = 1", "expected ')'"),
    ("pop = 1)", "unexpected ')'"),
    ("pop = 1 AND", "expected a value, found the end"),
    ("pop BETWEEN 1 OR 2", "expected AND"),
    ("founded > DATE 'soon'", "not a date"),
    ("name < founded", "cannot compare field 'name' (text) with field 'founded' (date) in <"),
    ("founded = UPPER(name)", "cannot compare UPPER(name) (text) with field 'founded' (date) in ="),
    ("name < DATE '2024-01-01'", "cannot compare field 'name' (text)"),
    ("founded IN (5)", "cannot compare field 'founded' (date) with 5 (number)"),
    ("founded BETWEEN name AND '2024-01-01'", "cannot compare field 'name' (text)"),
    ("pop = 1 ` x", "unexpected character '`'"),
    ("pop = 0x10", "unexpected 'x10'"),
    ("name IS 'x'", "expected NULL"),
    ("pop IN 1", "expected '('"),
    ("pop = - name", "expected a value"),
    ("AND = 1", "found AND"),
])
def test_refused_with_a_reason(where: str, says: str) -> None:
    assert says in refused(where)


def test_deep_nesting_and_long_clauses_are_refused_not_crashed() -> None:
    assert "nests more than" in refused("(" * 200 + "pop = 1" + ")" * 200)
    assert "nests more than" in refused("NOT " * 200 + "pop = 1")
    assert "nests more than" in refused("UPPER(" * 5000 + "name" + ")" * 5000 + " = 'x'")
    assert ids("UPPER(LOWER(UPPER(name))) = 'BETA'") == [2]
    assert "longer than" in refused("pop IN (" + ",".join(["1"] * 60_000) + ")")
    assert ids("pop IN (" + ",".join(str(i) for i in range(1000)) + ")") == [1, 4, 5, 6]


def test_injected_text_stays_data() -> None:
    """Quotes inside a string literal are part of the value compared, nothing more."""
    frame = pd.DataFrame({"name": ["x' OR '1'='1", "plain"]})
    where = parse_where("name = 'x'' OR ''1''=''1'", {"name": Field("name", TEXT)})
    assert where.mask(frame).tolist() == [True, False]


def test_like_takes_regex_characters_literally() -> None:
    assert LikePattern("a.b%").matches("a.bzzz")
    assert not LikePattern("a.b%").matches("axbzzz")
    assert LikePattern("(x)_").matches("(x)!")
    assert LikePattern("100\\%", "\\").matches("100%")
    assert not LikePattern("100\\%", "\\").matches("1000")
    assert LikePattern("a_%").matches("a\nb") and LikePattern("%").matches("")
    assert not LikePattern("ab%ba").matches("aba")        # the start and the end may not overlap
    assert LikePattern("a%!", "!").matches("a!")          # an ESCAPE at the very end is itself


# -- LIKE: the same answers as a regex, in linear time ------------------------------

_LIKE_TOKENS = st.lists(st.sampled_from(["a", "b", "%", "_", "*", "?", "[", "!", "\n"])
                        | st.sampled_from([("lit", "%"), ("lit", "_"), ("lit", "!")]), max_size=10)


def _like_and_fnmatch(tokens: list) -> tuple[str, str]:
    """The same pattern in LIKE (ESCAPE '!') and in fnmatch's language."""
    like, glob = [], []
    for t in tokens:
        if isinstance(t, tuple):                   # an escaped %, _ or !
            like.append("!" + t[1])
            glob.append(t[1])
        elif t == "%":
            like.append("%")
            glob.append("*")
        elif t == "_":
            like.append("_")
            glob.append("?")
        else:
            like.append("!!" if t == "!" else t)
            glob.append(f"[{t}]" if t in "*?[" else t)
    return "".join(like), "".join(glob)


@settings(max_examples=600, deadline=None)
@given(tokens=_LIKE_TOKENS, values=st.lists(st.text(alphabet="ab%_*?[!\n", max_size=12), min_size=1, max_size=8))
def test_like_agrees_with_fnmatch(tokens: list, values: list[str]) -> None:
    like, glob = _like_and_fnmatch(tokens)
    pattern = LikePattern(like, "!")
    for value in values:
        assert pattern.matches(value) == fnmatch.fnmatchcase(value, glob), (like, value)
    frame = pd.DataFrame({"name": values})
    where = parse_where("name LIKE '" + like.replace("'", "''") + "' ESCAPE '!'", {"name": Field("name", TEXT)})
    assert where.mask(frame).tolist() == [fnmatch.fnmatchcase(v, glob) for v in values]


@pytest.mark.timeout(60)
def test_pathological_like_patterns_run_in_linear_time() -> None:
    """'%a%a%a...' took exponential time as a backtracking regex (six of them: minutes per value)."""
    rows = 10_000
    values = ["a" * 999 + ("b" if i % 3 == 0 else "c") for i in range(rows)]
    frame = pd.DataFrame({"OBJECTID": np.arange(rows), "name": values})
    fields = {"name": Field("name", TEXT)}
    mask = parse_where("name LIKE '%a%a%a%a%a%a%b'", fields).mask(frame)
    assert mask.tolist() == [i % 3 == 0 for i in range(rows)]
    mask = parse_where("name LIKE '" + "%_" * 13 + "%!'", fields).mask(frame)
    assert not mask.any()
    mask = parse_where("name NOT LIKE '" + "%_a" * 40 + "%c'", fields).mask(frame)
    assert mask.tolist() == [i % 3 == 0 for i in range(rows)]


def test_tokens_carry_positions() -> None:
    toks = tokenize("pop >= 10")
    assert [(t.kind, t.value, t.pos) for t in toks] == [("id", "pop", 0), ("op", ">=", 4), ("num", 10, 7),
                                                          ("end", None, 9)]
    assert "position 6" in refused("pop = $1")


@pytest.mark.parametrize("where, says", [
    ("founded > 'garbage'", "not a date: 'garbage' at position 10"),
    ("founded IN ('2020-01-01', 'garbage')", "not a date: 'garbage'"),
    ("founded BETWEEN '2024-01-01' AND 'x'", "not a date: 'x'"),
    ("'soon' < founded", "not a date: 'soon' at position 0"),
])
def test_text_beside_a_date_is_read_as_a_date_when_parsed(where: str, says: str) -> None:
    """A bad date is a parse error (400 at once), never a failure while selecting rows."""
    with pytest.raises(WhereError) as err:
        parse_where(where, FIELDS)
    assert says in str(err.value)
