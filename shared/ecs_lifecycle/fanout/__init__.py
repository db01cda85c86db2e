"""The hub's fan-out: the pure plan (plan.py) and the hub's run (hub.py)."""
