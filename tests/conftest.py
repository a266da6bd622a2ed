"""The local stack the end-to-end tests and the local stack's own tests share: ``python -m local`` in a
subprocess (its own moto, clock and environment) on free ports, started once for the session when a test
first asks for ``stack`` (:class:`testkit.stack.LocalStack`). Browser and reliability tests start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.stack import LocalStack, running_stack


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    """The local stack, started once for the session and stopped at its end."""
    with running_stack(request) as running:
        yield running
