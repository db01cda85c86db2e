"""ecs-lifecycle core: settings, event parsing, planning and the ECS gateway shared by every function."""
