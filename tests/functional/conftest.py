"""Functional tests: the handlers, through the real SDK, against the ECS emulator.

The `run` fixture (tests/conftest.py) calls a handler as FC would.
"""
