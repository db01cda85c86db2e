"""FC entry point of ecs-auto-release: a thin adapter; the run lives in ecs_lifecycle.handler."""

from __future__ import annotations

from typing import Any

from ecs_lifecycle.handler import fc_handler
from ecs_lifecycle.model import Function


def handler(event: bytes, context: Any) -> str:
    return fc_handler(Function.AUTO_RELEASE, event, context)
