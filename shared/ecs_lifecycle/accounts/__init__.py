"""Many accounts: the seams to the account directory and FC's async invocation (ports.py)."""
