"""Helpers shared by the tests, the bench and the scripts: sample data and events, partners seeded in a given
standing, a client for a running local stack, and the schemathesis run.

``tests/``, ``bench/`` and ``scripts/`` may import from here; nothing here imports from ``tests/``, and nothing
outside ``tests/`` imports from ``tests/``. A helper used by one test folder only stays in that folder.
"""
