"""Fixtures for the emulator's own tests: a real SDK client and a way to catch its errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from Tea.exceptions import TeaException

SdkCall = Callable[[], object]
# The `sdk_error` fixture's type, for the tests that take it.
SdkError = Callable[[SdkCall], Any]


@pytest.fixture
def client(ecs_sdk_client: Any) -> Any:
    return ecs_sdk_client


@pytest.fixture
def sdk_error() -> SdkError:
    """Run an SDK call that must fail; return the SDK's exception (code, status_code, data)."""

    def run(call: SdkCall) -> Any:
        with pytest.raises(TeaException) as caught:
            call()
        return caught.value

    return run
