"""Errors that reach the user as one readable line.

Anything raised as a `WarehouseError` is printed by the CLI (and logged by Dagster) as its message alone, without a
traceback. The message must say what went wrong and what to do about it, and must never contain a secret.
"""


class WarehouseError(Exception):
    """A failure the user can act on: bad flag, unreachable server, rejected token, malformed config."""


class ConfigError(WarehouseError):
    """The sources config file or a setting is wrong."""


class SourceError(WarehouseError):
    """A source (Tekton Results, Kubernetes, a file) could not be read."""


class AuthError(SourceError):
    """A source rejected our credentials or we lack RBAC."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the warehouse file for writing."""
