"""Idempotency: the ClientToken of each changing call, derived from the run's seed and the call."""

from __future__ import annotations

import hashlib
import json


def client_token(seed: str, operation: str, **parameters: object) -> str:
    """A ClientToken over every parameter sent (ASCII, 64 chars).

    The same for a retried invocation of the same event asking the same thing, so ECS answers
    with the first call's result; different as soon as any parameter differs, so a changed call
    never meets IdempotentParameterMismatch.
    """
    material = json.dumps([seed, operation, parameters], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()[:64]
