"""Seeded fault injection: a share of requests answered 429, 503 or 500, delayed, or failed after committing.

Where a fault falls decides whether Stripe's idempotency layer saves it (https://docs.stripe.com/api/idempotent_requests:
"We save results only after the execution of an endpoint begins"): a 429 (the rate limiter runs before the
idempotency layer, https://docs.stripe.com/error-low-level) and a 503 before the endpoint began are not saved; a 500
from inside the endpoint is, and the same key replays it for 24 hours ("Subsequent requests with the same key
return the same result, including 500 errors").
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FaultPlan:
    """What to inject. Shares are fractions of matching requests in [0, 1]."""

    rate_limit: float = 0.0
    """Share answered 429 ``rate_limit`` before the endpoint runs: nothing changes, nothing is saved."""
    unavailable: float = 0.0
    """Share answered 503 before the endpoint runs: nothing changes, nothing is saved."""
    server_error: float = 0.0
    """Share answered 500 ``api_error`` from inside the endpoint before it changed anything; the 500 is saved
    under the idempotency key and replayed for 24 hours."""
    fail_after_commit: float = 0.0
    """Share that is carried out and then answered 500; the 500 is saved under the idempotency key and replayed
    for 24 hours (the work stays done)."""
    delay_ms: int = 0
    """Extra latency added to a ``delay_share`` of matching requests."""
    delay_share: float = 1.0
    path_prefix: str = "/v1/"
    path_suffix: str = ""
    """Only paths that also end so (``"/finalize"``)."""
    methods: list[str] | None = None
    """Only these HTTP methods (e.g. ``["POST"]``); all when ``None``."""
    limit: int | None = None
    """Stop after this many error faults (``None``: never), e.g. ``1`` to fail just the next request."""
    seed: int = 0


@dataclass
class Decision:
    """What happens to one request."""

    delay_s: float = 0.0
    status: int | None = None
    after_commit: bool = False


@dataclass
class Faults:
    """The active plan, its seeded random stream and a log of what was injected."""

    plan: FaultPlan | None = None
    injected: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(0)

    def configure(self, **options: Any) -> FaultPlan:
        """Replace the plan; unknown option names raise ``TypeError``."""
        plan = FaultPlan(**options)
        for name in ("rate_limit", "unavailable", "server_error", "fail_after_commit", "delay_share"):
            share = getattr(plan, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if plan.rate_limit + plan.unavailable + plan.server_error + plan.fail_after_commit > 1.0:
            raise ValueError("rate_limit + unavailable + server_error + fail_after_commit must not exceed 1")
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed)
            self.injected = []
        return plan

    def clear(self) -> None:
        with self._lock:
            self.plan = None
            self.injected = []

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"plan": asdict(self.plan) if self.plan else None, "injected": list(self.injected)}

    def decide(self, method: str, path: str) -> Decision:
        """Draw this request's fate; the same seed and request sequence always give the same faults."""
        with self._lock:
            plan = self.plan
            if plan is None or not path.startswith(plan.path_prefix) or not path.endswith(plan.path_suffix):
                return Decision()
            if plan.methods is not None and method.upper() not in {m.upper() for m in plan.methods}:
                return Decision()
            decision = Decision()
            if plan.delay_ms and self._rng.random() < plan.delay_share:
                decision.delay_s = plan.delay_ms / 1000
            exhausted = plan.limit is not None and plan.limit <= 0
            draw = self._rng.random()
            if not exhausted:
                edges = (plan.rate_limit, plan.unavailable, plan.server_error, plan.fail_after_commit)
                bound = 0.0
                for outcome, share in zip((429, 503, 500, None), edges, strict=True):
                    bound += share
                    if draw < bound:
                        decision.status, decision.after_commit = outcome, outcome is None
                        break
                if (decision.status or decision.after_commit) and plan.limit is not None:
                    plan.limit -= 1
            if decision.status or decision.after_commit or decision.delay_s:
                self.injected.append(
                    {
                        "method": method,
                        "path": path,
                        "status": decision.status,
                        "after_commit": decision.after_commit,
                        "delay_ms": plan.delay_ms if decision.delay_s else 0,
                    }
                )
            return decision
