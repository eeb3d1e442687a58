"""The CEL filter subset real Tekton Results clients send, translated to DuckDB SQL.

The real server translates CEL to Postgres SQL (cel2sql); we do the same against DuckDB so filters run inside the
database, never over Python objects. A small tokenizer and recursive-descent parser build typed nodes; every
literal is rendered as a quoted SQL literal (never interpolated raw) and anything outside the subset raises
`CelError`, which the API turns into INVALID_ARGUMENT like the real server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from etl.sql import sql_string

CONSTANTS = {"PIPELINE_RUN": "tekton.dev/v1.PipelineRun", "TASK_RUN": "tekton.dev/v1.TaskRun"}

Kind = Literal["string", "timestamp", "number", "bool", "null", "json", "list"]


class CelError(ValueError):
    """The filter is not valid CEL, or uses a construct we (and cel2sql) do not translate."""


@dataclass(frozen=True)
class Column:
    """A filterable variable: a SQL expression and its CEL type ("json" columns accept member access)."""

    sql: str
    kind: Kind


RECORD_COLUMNS: Mapping[str, Column] = {
    "parent": Column("parent", "string"),
    "result_name": Column("result_name", "string"),
    "name": Column("record_name", "string"),
    "uid": Column("uid", "string"),
    "data_type": Column("type", "string"),
    "create_time": Column("create_time", "timestamp"),
    "update_time": Column("update_time", "timestamp"),
    "data": Column("data", "json"),
}

RESULT_COLUMNS: Mapping[str, Column] = {
    "parent": Column("parent", "string"),
    "uid": Column("uid", "string"),
    "create_time": Column("create_time", "timestamp"),
    "update_time": Column("update_time", "timestamp"),
    "annotations": Column("annotations", "json"),
}

_TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<float>\d+\.\d+)
    | (?P<int>\d+)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>&&|\|\||==|!=|<=|>=|[<>!()\[\].,])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(source, pos)
        if not match or match.end() == pos:
            raise CelError(f"unexpected character {source[pos:].lstrip()[:1]!r} at offset {pos}")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(Token("eof", "", len(source)))
    return tokens


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


# ---------------------------------------------------------------------------------------------------------------
# Typed nodes
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    kind: Kind
    sql: str = ""


@dataclass(frozen=True)
class JsonPath(Node):
    """Member access into a JSON column; rendered lazily because the comparison decides the cast."""

    column: str = ""
    path: tuple[str | int, ...] = ()

    def path_literal(self) -> str:
        parts = ["$"]
        for part in self.path:
            if isinstance(part, int):
                parts.append(f"[{part}]")
            else:
                if '"' in part:
                    raise CelError(f"field name {part!r} with a double quote is not supported")
                parts.append(f'."{part}"')
        return sql_string("".join(parts))

    def as_text(self) -> str:
        if not self.path:
            return f"CAST({self.column} AS VARCHAR)"
        return f"json_extract_string({self.column}, {self.path_literal()})"


@dataclass(frozen=True)
class ListNode(Node):
    items: tuple[Node, ...] = ()


def _text(node: Node) -> str:
    if isinstance(node, JsonPath):
        return node.as_text()
    if node.kind == "string":
        return node.sql
    raise CelError(f"expected a string, got {node.kind}")


def _as(node: Node, kind: Kind) -> str:
    """The SQL of `node` as a value of `kind` (casting JSON values the way cel2sql casts JSONB text)."""
    if isinstance(node, JsonPath):
        if kind == "timestamp":
            return f"TRY_CAST({node.as_text()} AS TIMESTAMPTZ)"
        if kind == "number":
            return f"TRY_CAST({node.as_text()} AS DOUBLE)"
        return node.as_text()
    if kind == "string" and node.kind == "bool":
        return sql_string(node.sql.lower())
    if node.kind != kind:
        raise CelError(f"cannot compare {node.kind} with {kind}")
    return node.sql


def _compare(left: Node, op: str, right: Node) -> Node:
    sql_op = "=" if op == "==" else "<>" if op == "!=" else op
    if right.kind == "null" or left.kind == "null":
        other = left if right.kind == "null" else right
        if not isinstance(other, JsonPath) or op not in ("==", "!="):
            raise CelError("null can only be compared with == or != against a data field")
        test = "IS NULL" if op == "==" else "IS NOT NULL"
        return Node("bool", f"(json_extract({other.column}, {other.path_literal()}) {test})")
    if isinstance(left, JsonPath) and isinstance(right, JsonPath):
        kind: Kind = "string"
    elif isinstance(left, JsonPath):
        kind = right.kind
    else:
        kind = left.kind
    if kind == "bool":
        kind = "string"
    if kind not in ("string", "timestamp", "number"):
        raise CelError(f"unsupported comparison of {left.kind} and {right.kind}")
    if (
        kind == "string"
        and op not in ("==", "!=")
        and not (isinstance(left, JsonPath) or left.kind == "string")
    ):
        raise CelError(f"operator {op} is not defined on strings")
    return Node("bool", f"({_as(left, kind)} {sql_op} {_as(right, kind)})")


def _in(left: Node, right: Node) -> Node:
    if not isinstance(right, ListNode):
        raise CelError("the right side of 'in' must be a list literal")
    if not right.items:
        return Node("bool", "FALSE")
    kind: Kind = right.items[0].kind
    if any(item.kind != kind for item in right.items) or kind not in ("string", "number", "timestamp"):
        raise CelError("'in' needs a list of literals of one type")
    values = ", ".join(_as(item, kind) for item in right.items)
    return Node("bool", f"({_as(left, kind)} IN ({values}))")


def _method(target: Node, name: str, args: list[Node]) -> Node:
    if name not in ("contains", "startsWith", "endsWith", "matches"):
        raise CelError(f"unsupported CEL function {name}()")
    if len(args) != 1 or args[0].kind != "string" or isinstance(args[0], JsonPath):
        raise CelError(f"{name}() takes one string literal")
    subject, needle = _text(target), args[0].sql
    if name == "contains":
        return Node("bool", f"(position({needle} IN coalesce({subject}, '')) > 0)")
    if name == "startsWith":
        return Node("bool", f"starts_with({subject}, {needle})")
    if name == "endsWith":
        return Node("bool", f"ends_with({subject}, {needle})")
    return Node("bool", f"regexp_matches({subject}, {needle})")


def _as_condition(node: Node) -> str:
    if node.kind == "bool":
        return node.sql
    if isinstance(node, JsonPath):
        return f"({node.as_text()} = 'true')"
    raise CelError("expected boolean expression")


class _Parser:
    def __init__(self, source: str, columns: Mapping[str, Column]) -> None:
        self.tokens = tokenize(source)
        self.pos = 0
        self.columns = columns

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self, text: str | None = None) -> Token:
        token = self.tokens[self.pos]
        if text is not None and token.text != text:
            found = token.text or "end of filter"
            raise CelError(f"expected {text!r} at offset {token.pos}, found {found!r}")
        self.pos += 1
        return token

    def accept(self, text: str) -> bool:
        if self.peek().kind == "op" and self.peek().text == text:
            self.pos += 1
            return True
        return False

    def parse(self) -> str:
        node = self.or_expr()
        if self.peek().kind != "eof":
            raise CelError(f"unexpected {self.peek().text!r} at offset {self.peek().pos}")
        return _as_condition(node)

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.accept("||"):
            right = self.and_expr()
            node = Node("bool", f"({_as_condition(node)} OR {_as_condition(right)})")
        return node

    def and_expr(self) -> Node:
        node = self.relation()
        while self.accept("&&"):
            right = self.relation()
            node = Node("bool", f"({_as_condition(node)} AND {_as_condition(right)})")
        return node

    def relation(self) -> Node:
        left = self.unary()
        token = self.peek()
        if token.kind == "op" and token.text in ("==", "!=", "<", "<=", ">", ">="):
            self.pos += 1
            return _compare(left, token.text, self.unary())
        if token.kind == "ident" and token.text == "in":
            self.pos += 1
            return _in(left, self.unary())
        return left

    def unary(self) -> Node:
        if self.accept("!"):
            return Node("bool", f"(NOT {_as_condition(self.unary())})")
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.accept("."):
                name = self.take().text
                if self.accept("("):
                    node = _method(node, name, self.arguments(")"))
                else:
                    node = self._field(node, name)
            elif self.accept("["):
                key = self.or_expr()
                self.take("]")
                node = self._index(node, key)
            else:
                return node

    def _field(self, node: Node, name: str) -> Node:
        if not isinstance(node, JsonPath):
            raise CelError(f"unsupported field selection .{name} on a {node.kind}")
        return JsonPath("json", column=node.column, path=(*node.path, name))

    def _index(self, node: Node, key: Node) -> Node:
        if not isinstance(node, JsonPath):
            raise CelError(f"unsupported index on a {node.kind}")
        if key.kind == "string" and not isinstance(key, JsonPath):
            return JsonPath("json", column=node.column, path=(*node.path, _unquote_sql(key.sql)))
        if key.kind == "number" and key.sql.isdigit():
            return JsonPath("json", column=node.column, path=(*node.path, int(key.sql)))
        raise CelError("index must be a string or non-negative integer literal")

    def arguments(self, closing: str) -> list[Node]:
        args: list[Node] = []
        if self.accept(closing):
            return args
        while True:
            args.append(self.or_expr())
            if self.accept(closing):
                return args
            self.take(",")

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "string":
            return Node("string", sql_string(_unquote(token.text)))
        if token.kind in ("int", "float"):
            return Node("number", token.text)
        if token.kind == "op" and token.text == "(":
            node = self.or_expr()
            self.take(")")
            return node
        if token.kind == "op" and token.text == "[":
            return ListNode("list", items=tuple(self.arguments("]")))
        if token.kind == "ident":
            return self._identifier(token)
        raise CelError(f"unexpected {token.text or 'end of filter'!r} at offset {token.pos}")

    def _identifier(self, token: Token) -> Node:
        name = token.text
        if name in ("true", "false"):
            return Node("bool", name.upper())
        if name == "null":
            return Node("null", "NULL")
        if name in CONSTANTS:
            return Node("string", sql_string(CONSTANTS[name]))
        if self.accept("("):
            if name != "timestamp":
                raise CelError(f"unsupported CEL function {name}()")
            return self._function(name, self.arguments(")"))
        column = self.columns.get(name)
        if column is None:
            raise CelError(f"undeclared reference to '{name}'")
        if column.kind == "json":
            return JsonPath("json", column=column.sql)
        return Node(column.kind, column.sql)

    def _function(self, name: str, args: list[Node]) -> Node:
        if name != "timestamp":
            raise CelError(f"unsupported CEL function {name}()")
        if len(args) != 1 or args[0].kind != "string" or isinstance(args[0], JsonPath):
            raise CelError("timestamp() takes one RFC 3339 string literal")
        text = _unquote_sql(args[0].sql)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise CelError(f"timestamp({text!r}) is not an RFC 3339 time") from None
        if parsed.tzinfo is None:
            raise CelError(f"timestamp({text!r}) needs a time zone (e.g. a trailing Z)")
        return Node("timestamp", f"TIMESTAMPTZ {sql_string(parsed.isoformat())}")


def _unquote_sql(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def to_sql(source: str, columns: Mapping[str, Column] = RECORD_COLUMNS) -> str:
    """The SQL condition for a CEL filter ("TRUE" when empty); raises `CelError` for anything unsupported."""
    if not source.strip():
        return "TRUE"
    return _Parser(source, columns).parse()
