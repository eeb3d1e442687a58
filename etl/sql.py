"""SQL text helpers shared by the warehouse and the local Results server."""

from __future__ import annotations


def sql_string(value: str) -> str:
    """A DuckDB string literal (standard SQL quoting; DuckDB has no backslash escapes), for the statements that take
    no bound parameters (ATTACH, table functions' file paths)."""
    return "'" + value.replace("'", "''") + "'"
