"""The budget guard: budgets (spec.py), worst-case estimates (estimate.py), the ledger that counts
them across threads and processes (ledger.py), the check before each call and the settlement after
it (guard.py), set up from the environment or from code (setup.py)."""
