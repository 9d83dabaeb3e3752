"""The one codec for what the workflow checkpoints (state.py's types): pydantic's TypeAdapter over the
dataclasses turns them into JSON and back, in the durable port and the local port alike."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")

# A durable step result (and the execution's result) must fit one checkpoint (256 KB); this budget
# leaves room for the SDK's envelope.
CHECKPOINT_BUDGET_BYTES = 240 * 1024


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    # Building an adapter compiles a validator: once per type, not once per step.
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def encode(value: Any) -> Any:
    """A step result as plain JSON data (what the durable SDK checkpoints)."""
    return _adapter(type(value)).dump_python(value, mode="json")


def decode(kind: type[T], data: Any) -> T:
    """The typed step result back from its checkpointed JSON data; strict about unknown shapes."""
    result: T = _adapter(kind).validate_python(data)
    return result


def checkpoint_size(value: Any) -> int:
    """Bytes `value` (typed or already plain) takes as a checkpoint (compact JSON)."""
    plain = value if isinstance(value, dict | list | str | int | float | None) else encode(value)
    return len(json.dumps(plain, separators=(",", ":")))
