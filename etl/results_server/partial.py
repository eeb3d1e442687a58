"""AIP-157 partial responses (`fields`), as the real server applies them since v0.15.

Paths use proto field names (`records.name,records.data.value.metadata,next_page_token`); a path that goes past a
`bytes` field digs into that field's JSON document (`data.value`), like the server's gjson filter. Fields not named
are cleared, so a client that wants the next page must ask for `next_page_token`.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

Tree = dict[str, "Tree"]


def parse_fields(fields: str) -> Tree:
    """Nested dict of field names; an empty dict means "keep all of it". Shorter paths win over longer ones."""
    tree: Tree = {}
    paths = sorted((p.strip().split(".") for p in fields.split(",") if p.strip()), key=len)
    for parts in paths:
        node = tree
        for part in parts:
            if part in node and not node[part]:
                break
            node = node.setdefault(part, {})
    return tree


def apply_fields(message: Message, fields: str) -> Message:
    """A copy of `message` keeping only the fields named in `fields` (everything when `fields` is blank)."""
    tree = parse_fields(fields)
    if not tree:
        return message
    copy = type(message)()
    copy.CopyFrom(message)
    _prune(copy, tree)
    return copy


def _prune(message: Message, tree: Tree) -> None:
    for field, value in list(message.ListFields()):
        subtree = tree.get(field.name)
        if subtree is None:
            message.ClearField(field.name)
        elif not subtree:
            continue
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            items = value if _is_repeated(field) else [value]
            for item in items:
                if hasattr(item, "ListFields"):
                    _prune(item, subtree)
        elif field.type == FieldDescriptor.TYPE_BYTES and not _is_repeated(field):
            setattr(message, field.name, _filter_json(value, subtree))


def _is_repeated(field: FieldDescriptor) -> bool:
    return getattr(field, "is_repeated", field.label == FieldDescriptor.LABEL_REPEATED)


def _filter_json(value: bytes, tree: Tree) -> bytes:
    try:
        document = json.loads(value)
    except ValueError:
        return value
    return json.dumps(_pick(document, tree), separators=(",", ":")).encode()


def _pick(document: Any, tree: Tree) -> Any:
    if not tree or not isinstance(document, dict):
        return document
    return {key: _pick(document[key], sub) for key, sub in tree.items() if key in document}
