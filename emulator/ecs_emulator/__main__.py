"""``python -m ecs_emulator``: run the standalone emulator (see :mod:`ecs_emulator.cli`)."""

import sys

from ecs_emulator.cli import main

sys.exit(main())
