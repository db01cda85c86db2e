"""A local ECS 2014-05-26 API emulator for tests, the demo and benchmarks. Never shipped to FC."""
