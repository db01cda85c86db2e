"""detect-secrets plugins for what its defaults miss: Alibaba Cloud AccessKey ids.

Loaded by tests/reliability/test_secret_scan.py with `detect-secrets scan --plugin <this file>`.
"""

from __future__ import annotations

import re

from detect_secrets.plugins.base import RegexBasedDetector


class AlibabaAccessKeyDetector(RegexBasedDetector):
    """An Alibaba Cloud AccessKey id: `LTAI` and 12 to 30 letters and digits (gitleaks' rule)."""

    @property
    def secret_type(self) -> str:
        return "Alibaba Cloud AccessKey ID"

    @property
    def denylist(self) -> list[re.Pattern[str]]:
        return [re.compile(r"\b(LTAI[0-9A-Za-z]{12,30})\b")]
