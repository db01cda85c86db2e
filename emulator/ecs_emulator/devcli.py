"""The installed ``ecs-lifecycle`` command: the core's ``invoke``, plus the development commands.

``ecs-lifecycle emulator`` (:mod:`ecs_emulator.cli`) and ``ecs-lifecycle demo``
(:mod:`ecs_emulator.demo`) need the emulator, which is never shipped; everything else goes to the
core's :func:`ecs_lifecycle.cli.main` untouched. The edge points from the emulator to the core,
never back: the core's CLI does not know these commands exist (docs/architecture.md).
"""

from __future__ import annotations

import sys
from typing import Final

DEV_COMMANDS: Final = {
    "emulator": "run the local ECS emulator (see: emulator --help)",
    "demo": "run the three functions on the emulator's demo fleet",
    "fanout": "run the hub's fan-out over emulated accounts (see: fanout --help)",
}


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "emulator":
        from ecs_emulator.cli import main as emulator_main  # noqa: PLC0415 - its own imports

        return int(emulator_main(arguments[1:], prog="ecs-lifecycle emulator"))
    if arguments and arguments[0] == "demo":
        from ecs_emulator.demo import main as demo_main  # noqa: PLC0415 - its own imports

        return int(demo_main(arguments[1:]))
    if arguments and arguments[0] == "fanout":
        from ecs_emulator.fanout_demo import main as fanout_main  # noqa: PLC0415 - its own imports

        return int(fanout_main(arguments[1:]))
    from ecs_lifecycle.cli import main as core_main  # noqa: PLC0415 - not for the dev commands

    try:
        return int(core_main(arguments))
    finally:
        if arguments[:1] in (["-h"], ["--help"]):  # argparse has printed the core's help
            lines = [f"  {name:<10} {help_text}" for name, help_text in DEV_COMMANDS.items()]
            print("\ndevelopment commands (need the emulator):", *lines, sep="\n")  # noqa: T201


if __name__ == "__main__":
    sys.exit(main())
