"""End-to-end tests over HTTP against the whole local stack (the ``stack`` fixture of ``tests/conftest.py``)."""
