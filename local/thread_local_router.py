"""Keep Powertools' current request per thread when many requests share one process.

Powertools' event handler stores the request being resolved on the class (`BaseRouter.current_event`,
`BaseRouter.lambda_context`). On Lambda one process serves one request at a time, so that is safe. The
local stack and the in-process tests serve concurrent requests from threads of one process: without
this, a request could read another request's event, and with it another partner's identity.

A data descriptor on the class (instance access) and on its metaclass (class access) routes both
attributes to one ``threading.local``: each thread sees only the request it is resolving.
"""

from __future__ import annotations

import threading
from typing import Any

_ATTRIBUTES = ("current_event", "lambda_context")
_state = threading.local()
_patched = False


class _PerThread:
    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        return getattr(_state, self.name, None)

    def __set__(self, instance: Any, value: Any) -> None:
        setattr(_state, self.name, value)


def make_event_handler_thread_local() -> None:
    """Idempotent; call before serving requests from several threads."""
    global _patched
    if _patched:
        return
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    for name in _ATTRIBUTES:
        setattr(BaseRouter, name, _PerThread(name))  # in the class dict: instance access
    meta = type(BaseRouter)
    # Then the metaclass, so that `BaseRouter.current_event = ...` no longer replaces the class-dict entry.
    BaseRouter.__class__ = type(f"PerThread{meta.__name__}", (meta,), {n: _PerThread(n) for n in _ATTRIBUTES})
    _patched = True
