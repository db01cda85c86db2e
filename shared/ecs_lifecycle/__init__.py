"""ecs-lifecycle core: settings, events, planning and the ECS gateway every function ships."""
