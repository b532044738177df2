"""Case selection by keyword expression, as pytest's `-k`: `titan or msft`, `not fake`,
`(seen or unseen) and not hist`. A word matches a case when it occurs in the case's id (a
substring, as pytest matches test names) or is one of its tags (the whole tag, so `seen` does not
select `unseen`), case-insensitively; `and`, `or`, `not` and parentheses combine words. Parsed by a
small recursive-descent parser into a predicate: nothing is evaluated as Python."""
from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

from ..errors import InputError
from .model import Case

Predicate = Callable[[Case], bool]

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
_KEYWORDS = {"and", "or", "not"}


def _tokens(expr: str) -> list[str]:
    out, pos = [], 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:  # only trailing spaces are left, and those were stripped
            break
        out.append(m.group(1))
        pos = m.end()
    return out


class _Parser:
    """expr := term ('or' term)* ; term := factor ('and' factor)* ; factor := 'not' factor |
    '(' expr ')' | WORD"""

    def __init__(self, expr: str):
        self.expr, self.tokens, self.i = expr, _tokens(expr), 0

    def fail(self, what: str) -> InputError:
        return InputError(None, f"cannot parse '{self.expr}': {what} (e.g. -k \"titan or msft\", -k \"not fake\")",
                          field="-k")

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Predicate:
        if not self.tokens:
            raise self.fail("empty expression")
        pred = self.expr_()
        if self.peek() is not None:
            raise self.fail(f"unexpected '{self.peek()}'")
        return pred

    def expr_(self) -> Predicate:
        parts = [self.term()]
        while self.peek() == "or":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda c, ps=tuple(parts): any(p(c) for p in ps))

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.peek() == "and":
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda c, ps=tuple(parts): all(p(c) for p in ps))

    def factor(self) -> Predicate:
        token = self.peek()
        if token is None:
            raise self.fail("expression ends too soon")
        if token == "not":
            self.take()
            inner = self.factor()
            return lambda c: not inner(c)
        if token == "(":
            self.take()
            inner = self.expr_()
            if self.peek() != ")":
                raise self.fail("missing ')'")
            self.take()
            return inner
        if token == ")" or token in _KEYWORDS:
            raise self.fail(f"unexpected '{token}'")
        word = self.take().lower()
        return lambda c: word in c.id.lower() or any(word == t.lower() for t in c.tags)


def case_filter(expr: str) -> Predicate:
    """A predicate over cases for a `-k` expression; InputError (exit 2) when it does not parse."""
    return _Parser(expr).parse()


def select_cases(cases: Sequence[Case], expr: str) -> tuple[Case, ...]:
    """The cases `expr` selects, in suite order; an error when it selects none."""
    keep = case_filter(expr)
    chosen = tuple(c for c in cases if keep(c))
    if not chosen:
        raise InputError(None, f"'{expr}' selects none of the {len(cases)} cases (it is matched against "
                         f"case ids and tags, e.g. {_examples(cases)})", field="-k")
    return chosen


def _examples(cases: Iterable[Case]) -> str:
    shown = []
    for c in cases:
        shown.append(c.id)
        if len(shown) == 3:
            break
    return ", ".join(shown) or "none"
