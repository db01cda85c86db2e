"""Text for a person: a run's summary as a table, and the table and wrapping both CLIs use.

The core's `ecs-lifecycle invoke` and the emulator's own commands (its fleet table, the demo)
render with these; this module depends on nothing of either (the standard library only), so
neither needs the other for its output.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

_NARROWEST_REASON: Final = 24  # below this, a reason goes on its own lines under its row
_NARROWEST_WRAP: Final = 40  # narrower than this, text wraps at 40 and the terminal folds it


@dataclass(frozen=True, slots=True)
class Who:
    """What a person knows an instance by: its name and its owner (tag), for the table."""

    name: str
    owner: str


def render_summary(summary: Mapping[str, Any], known: Mapping[str, Who], width: int) -> list[str]:
    """A run's result for a person: a heading, one row per instance, the notes and the counts.

    Lines fit `width` (reasons and notes wrap) and carry no trailing spaces.
    """
    regions = ", ".join(summary.get("regions", []))
    dry = " (dry run: nothing changed)" if summary.get("dry_run") else ""
    lines = [f"{summary['function']}{dry}, {summary['trigger']} trigger, in {regions}"]
    several_regions = len(summary.get("regions", [])) > 1
    heading = ("INSTANCE", "NAME", "OWNER", *(("REGION",) if several_regions else ()))
    rows = [(*heading, "ACTION", "OUTCOME", "REASON")]
    for entry in summary.get("instances", []):
        who = known.get(entry["instance_id"], Who("", ""))
        reason = str(entry["reason"])
        if entry.get("error_code"):
            reason += f" [{entry['error_code']}, request {entry.get('request_id') or '-'}]"
        if entry.get("snapshot_ids"):
            reason += f" [snapshots: {', '.join(entry['snapshot_ids'])}]"
        rows.append(
            (
                entry["instance_id"],
                who.name or "-",
                who.owner or "-",
                *((entry["region"],) if several_regions else ()),
                entry["action"],
                entry["outcome"],
                reason,
            )
        )
    if len(rows) > 1:
        lines += table(rows, width)
    for note in summary.get("notes", []):
        lines += textwrap.wrap(f"note: {note}", width=max(width, 40), subsequent_indent="      ")
    counts = ", ".join(f"{count} {name}" for name, count in summary["counts"].items() if count)
    lines.append(f"=> {counts or 'nothing to do'}")
    return lines


def wrap(
    text: str, width: int, *, initial_indent: str = "", subsequent_indent: str = ""
) -> list[str]:
    """`text` in lines of at most `width` (40 at least), not broken inside words or at hyphens."""
    return textwrap.wrap(
        text,
        width=max(width, _NARROWEST_WRAP),
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_on_hyphens=False,
    )


def table(rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """Columns padded to their widest cell; the last column wraps to fit `width`.

    When the other columns leave the last one too little room, it goes on its own indented
    lines under each row instead. No line ends in spaces.
    """
    leading = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    indent = sum(leading) + 2 * len(leading)
    room = width - indent
    widest_last = max(len(row[-1]) for row in rows)
    lines: list[str] = []
    for number, row in enumerate(rows):
        head = "  ".join(cell.ljust(size) for cell, size in zip(row[:-1], leading, strict=True))
        last = row[-1]
        if room >= _NARROWEST_REASON:
            wrapped = textwrap.wrap(last, width=room, break_on_hyphens=False) or [""]
            lines.append(f"{head}  {wrapped[0]}".rstrip())
            lines += [(" " * indent + more).rstrip() for more in wrapped[1:]]
        else:
            lines.append(head.rstrip())
            if number > 0:
                lines += wrap(last, width, initial_indent="    ", subsequent_indent="    ")
        if number == 0:
            rule = "  ".join("-" * size for size in leading)
            lines.append(
                f"{rule}  {'-' * min(room, widest_last)}" if room >= _NARROWEST_REASON else rule
            )
    return lines
