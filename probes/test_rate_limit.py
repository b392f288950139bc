"""Rate limiting: 429 at the profile's limit, an honest Retry-After, no budget the client picks.

One drain, and it comes first in the run (probes.plugin orders it so): it
holds the pacer's exclusive lock, so no other probe runs meanwhile, and it
starts from the full bucket every run begins with. Its requests alternate
between an unauthenticated and an authenticated client and are judged on
their sum, because the contract's bucket counts every request before auth: a
limiter placed after auth, or one bucket per credential, admits about twice
the burst and fails the window. After Retry-After both clients must pass
again; then the pacer is told what the target holds by now (`Pacer.restart`),
so the others resume without waiting for a refill that already happened.

How hard it pushes follows the target: a few requests timed first give the
service time, and the drain gets enough connections to offer twice the
refill (probes/drain.py). If the client cannot reach that, a drain without a
429 is inconclusive, with the rate it reached, never a failure. Once
limited, requests that each carry one client-controlled input with a fresh
value (address headers, User-Agent, a bearer string, a query, another
route) must stay limited: the contract keys the bucket on the peer alone.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from probes import checks, drain
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.outcomes import Inconclusive
from probes.payloads import clients
from probes.plan import Cost
from probes.profile import Endpoint
from probes.run import ProbeContext, Run

RECOVERY_LIMIT_S = 30.0
ANONYMOUS, AUTHENTICATED = "unauthenticated", "authenticated"
KINDS = (ANONYMOUS, AUTHENTICATED)
REFUSED = frozenset({429, 503})
ALLOWED = {ANONYMOUS: frozenset({401}), AUTHENTICATED: frozenset(range(200, 300))}


def _protected_gets(run: Run) -> list[Endpoint]:
    return [e for e in run.profile.endpoints if e.auth and e.method == "GET"]


def _drain_endpoint(run: Run) -> Endpoint:
    for endpoint in _protected_gets(run):
        return endpoint
    pytest.skip("the profile lists no protected GET endpoint to drain")


def _other_route(run: Run, drained: Endpoint) -> str | None:
    """Another protected GET path, for the per-route disguise; None when the profile has none."""
    return next((e.path for e in _protected_gets(run) if e.path != drained.path), None)


@dataclass
class Sender:
    """The probe's requests to the drained endpoint, unpaced, each as one of the two clients.

    `turn()` alternates the clients, so any prefix of a concurrent drain holds
    both about equally. It also keeps, on the pacer's clock, what the hand-back
    needs: when the target last refused (it held no token then) and when it
    admitted each request after that.
    """

    client: ProbeClient
    endpoint: Endpoint
    clock: Callable[[], float]
    refused_at: float | None = None
    last_refused: bool = False  # the latest answer to arrive was a refusal
    _admitted_at: list[float] = field(default_factory=list)
    _turns: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def turn(self) -> str:
        return KINDS[next(self._turns) % 2]

    def send(
        self,
        kind: str,
        path: str | None = None,
        *,
        expect: frozenset[int],
        headers: dict[str, str] | None = None,
    ) -> Exchange:
        extra: dict[str, object] = {"authorization": None} if kind == ANONYMOUS else {}
        exchange = self.client.request(
            self.endpoint.method, path or self.endpoint.path, pace=False, expect=expect,
            headers=headers, **extra,  # type: ignore[arg-type]
        )  # fmt: skip
        now = self.clock()
        with self._lock:
            if exchange.status in REFUSED:
                self.refused_at = max(now, self.refused_at or now)
                self.last_refused = True
            elif exchange.status is not None:
                self._admitted_at.append(now)
                self.last_refused = False
        return exchange

    def tokens_now(self, rate_per_second: float) -> float:
        """What the target holds now, at least: `rate_per_second` refilled since its latest
        refusal, less what it admitted since; 0 when it never refused (unknown: taken as
        just emptied)."""
        with self._lock:
            if self.refused_at is None:
                return 0.0
            since = sum(1 for t in self._admitted_at if t >= self.refused_at)
            elapsed = self.clock() - self.refused_at
            return drain.tokens_since_empty(rate_per_second, elapsed, since)


def _hand_back(sender: Sender, run: Run) -> None:
    """Give the target back to the other probes, with the pacer told what it holds.

    When the section ended on a refusal (a failure on the way), poll first until
    the target admits again; the polls back off (0.5 s, doubling to 8 s): a
    limiter that extends its block on every refused request would keep a
    steady poller out for good.
    """
    deadline = time.monotonic() + RECOVERY_LIMIT_S
    wait = 0.5
    while sender.last_refused and time.monotonic() < deadline:
        exchange = sender.send(AUTHENTICATED, expect=ALLOWED[AUTHENTICATED])
        if exchange.status not in REFUSED:
            break
        time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
        wait = min(2 * wait, 8.0)
    run.pacer.restart(sender.tokens_now(run.pacer.rate_per_second))


def test_limit_answers_429(st_run: Run, st_client: ProbeClient, probe: ProbeContext) -> None:
    limit = st_run.profile.rate_limit
    endpoint = _drain_endpoint(st_run)
    probe.about(endpoint.method, endpoint.path)
    sender = Sender(st_client, endpoint, st_run.pacer.clock)
    budget = drain.drain_budget(limit.burst)
    what = f"{endpoint.key} drained by an unauthenticated and an authenticated client in turn"

    with st_run.pacer.exclusive():
        time.sleep(st_run.pacer.quiet_seconds())
        try:
            service_s = _service_time(sender)
            # The timed requests took tokens: wait them back, so the drain starts full.
            time.sleep(drain.SERVICE_SAMPLES / limit.rate_per_second)
            plan = drain.plan_drain(
                limit.rate_per_second,
                limit.burst,
                limit.tolerance_ratio,
                service_s,
                budget=budget,
            )
            drained = _drain(sender, budget, plan.workers)
            window = checks.limit_window(
                limit.burst, limit.rate_per_second, drained.elapsed_s, limit.tolerance_ratio
            )
            measured: dict[str, object] = {
                "admitted": drained.admitted,
                "admitted_unauthenticated": drained.admitted_by[ANONYMOUS],
                "admitted_authenticated": drained.admitted_by[AUTHENTICATED],
                "sent": drained.sent,
                "expected_window": [window.earliest, window.latest],
                "drain_seconds": round(drained.elapsed_s, 3),
                "burst": limit.burst,
                "rate_per_second": limit.rate_per_second,
                "service_ms": None if service_s is None else round(service_s * 1000, 1),
                "drain_workers": plan.workers,
                "needed_workers": plan.needed_workers,
                "required_rate_per_second": round(plan.required_rate_per_second, 1),
                "offered_rate_per_second": round(drained.offered_rate_per_second, 1),
            }
            probe.measured(measured)  # read when the probe ends: later figures join it
            limited = drained.limited
            if limited is None:
                drain.unlimited_drain(
                    what,
                    sent=drained.sent,
                    admitted=drained.admitted,
                    elapsed_s=drained.elapsed_s,
                    rate_per_second=limit.rate_per_second,
                    burst=limit.burst,
                    window_latest=window.latest,
                    plan=plan,
                )
            if limited.status == 503:
                raise ProbeFailure(
                    f"{what}: 503 where 429 is due (after {drained.admitted} admitted; "
                    "nginx answers 503 unless limit_req_status 429 is set)",
                    exchange=limited,
                )
            checks.status_is(limited, 429, f"{what}, after {drained.admitted} admitted")
            if not window.earliest <= drained.admitted <= window.latest:
                raise ProbeFailure(
                    f"{what}: {drained.admitted} requests admitted before the limit "
                    f"({drained.describe_admitted()}), expected {window.earliest} to "
                    f"{window.latest} (burst {limit.burst}, {limit.rate_per_second:g}/s, "
                    f"{drained.elapsed_s:.2f} s drain; every request counts, before auth)",
                    exchange=limited,
                    measured=drained.admitted,
                    limit=(window.earliest, window.latest),
                )
            checks.error_body(limited, f"{what}: the 429")
            retry_after = checks.retry_after_seconds(limited, what)
            honest = checks.max_honest_retry_after(limit.burst, limit.rate_per_second)
            if retry_after > honest:
                raise ProbeFailure(
                    f"{what}: Retry-After {retry_after} s overstates the wait "
                    f"(a full refill takes {honest - 1} s)",
                    exchange=limited,
                    measured=retry_after,
                    limit=honest,
                )
            other_route = _other_route(st_run, endpoint)
            inputs = len(clients.client_inputs(other_route=other_route))
            spoof = drain.plan_spoof(limit.rate_per_second, service_s, plan.workers, inputs)
            spoof_undecided = _disguises_do_not_reset(
                sender, what, limit.rate_per_second, drained.last_limited_sent, spoof, measured,
                path=endpoint.path, other_route=other_route,
            )  # fmt: skip
            time.sleep(retry_after + 0.1)
            for kind in (AUTHENTICATED, ANONYMOUS):  # a legitimate client first: the lockout
                after = sender.send(kind, expect=ALLOWED[kind])
                if after.status in ALLOWED[kind]:
                    continue
                if after.status == 429:
                    # A lockout past Retry-After: every later probe would meet it, so
                    # the run says so once (the breaker) instead of waiting it out.
                    st_client.breaker.locked_out(
                        f"429 persists after honouring Retry-After {retry_after} s "
                        f"({endpoint.key}, found by the rate-limit probe)"
                    )
                raise ProbeFailure(
                    f"{what}: {kind} still {after.status} after honouring "
                    f"Retry-After: {retry_after}",
                    exchange=after,
                    measured=after.status,
                )
            if spoof_undecided is not None:
                # Last: a failure of any other check outranks the probe's own limit.
                raise Inconclusive(spoof_undecided)
        finally:
            if not st_client.breaker.open:
                _hand_back(sender, st_run)


def _service_time(sender: Sender) -> float | None:
    """The target's service time, from a few requests like the drain's, one at a time.

    Timed before the drain rather than from its first answers: the first
    round is when the bucket empties, so it must already run at full
    strength. Admitted answers count (a 429 may be answered by a front proxy
    faster than the drain's requests are); any answer if none was admitted.
    """
    samples = []
    for _ in range(drain.SERVICE_SAMPLES):
        kind = sender.turn()
        exchange = sender.send(kind, expect=ALLOWED[kind] | {429})
        samples.append((exchange, exchange.status in ALLOWED[kind]))
    admitted = drain.service_seconds(e.latency_ms for e, ok in samples if ok)
    if admitted is not None:
        return admitted
    return drain.service_seconds(e.latency_ms for e, _ in samples)


@dataclass(frozen=True)
class Drain:
    sent: int
    admitted_by: Counter[str]  # per client: answered with its allowed status, 429s aside
    limited: Exchange | None  # the first answer that was not allowed
    elapsed_s: float  # until that first answer (or the end)
    sent_before_limit: int  # requests sent until then
    # perf_counter() at the send of the latest request answered outside `allowed`
    # (the bucket was empty when it was decided, which was after its send); the end if none.
    last_limited_sent: float

    @property
    def admitted(self) -> int:
        return sum(self.admitted_by.values())

    def describe_admitted(self) -> str:
        return ", ".join(f"{self.admitted_by[kind]} {kind}" for kind in KINDS)

    @property
    def offered_rate_per_second(self) -> float:
        """What the drain offered the target until the limit (or the end)."""
        return drain.offered_rate(self.sent_before_limit, self.elapsed_s)


def _drain(sender: Sender, max_requests: int, workers: int) -> Drain:
    """Send with `workers` threads, the clients in turn, until the first answer outside the
    sending client's allowed statuses.

    Concurrent, so the drain outpaces the refill even against a slow target;
    judged on the total admitted, which does not depend on the order in
    which answers complete. A worker's exception (the target found
    unavailable) stops the others and reaches the caller.
    """
    lock = threading.Lock()
    stop = threading.Event()
    sent = 0
    admitted: Counter[str] = Counter({kind: 0 for kind in KINDS})
    limited: Exchange | None = None
    limited_after: float | None = None
    sent_before_limit = 0
    last_limited_sent: float | None = None
    started = time.perf_counter()

    def worker() -> None:
        nonlocal sent, limited, limited_after, sent_before_limit, last_limited_sent
        try:
            while not stop.is_set():
                with lock:
                    if sent >= max_requests:
                        return
                    sent += 1
                kind = sender.turn()
                sent_at = time.perf_counter()
                exchange = sender.send(kind, expect=ALLOWED[kind] | {429})
                with lock:
                    if exchange.status in ALLOWED[kind]:
                        admitted[kind] += 1
                        continue
                    last_limited_sent = max(last_limited_sent or sent_at, sent_at)
                    if limited is None:
                        limited = exchange
                        limited_after = time.perf_counter() - started
                        sent_before_limit = sent
                        stop.set()
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    ended = time.perf_counter()
    return Drain(
        sent=sent,
        admitted_by=admitted,
        limited=limited,
        elapsed_s=limited_after if limited_after is not None else ended - started,
        sent_before_limit=sent_before_limit if limited is not None else sent,
        last_limited_sent=last_limited_sent if last_limited_sent is not None else ended,
    )


def _disguises_do_not_reset(
    sender: Sender,
    what: str,
    rate_per_second: float,
    last_limited_sent: float,
    plan: drain.SpoofPlan,
    measured: dict[str, object],
    *,
    path: str,
    other_route: str | None,
) -> str | None:
    """No input the client controls may buy a fresh budget (probes/payloads/clients.py).

    While the bucket is empty, each request carries one client-chosen input
    (an address header, a User-Agent, a bearer string, a query, another
    route) with a value never sent before. Sent concurrently, as many and as
    fast as the service time requires, and what the bucket may have refilled
    is counted from the send of the last refused request, not from this
    batch: the gap between the two is where tokens come from. The clients
    take turns here too: a limited client stays limited with or without a
    credential. Returns why the batch proves nothing, if it could not have
    shown a reset (see `drain.spoofing_verdict`).
    """
    batch = clients.disguises(plan.per_input, path=path, other_route=other_route)
    started = time.perf_counter()

    last_send = [started]

    def one(disguise: clients.Disguise) -> tuple[str, Exchange]:
        kind = sender.turn()
        last_send[0] = max(last_send[0], time.perf_counter())  # a float store: atomic
        exchange = sender.send(
            kind, disguise.path, headers=dict(disguise.headers), expect=frozenset({429})
        )
        return disguise.input, exchange

    with ThreadPoolExecutor(max_workers=plan.workers) as pool:
        results = list(pool.map(one, batch))
    ended = time.perf_counter()
    elapsed = ended - last_limited_sent
    admitted = [name for name, e in results if e.status is not None and e.status != 429]
    measured.update(
        {
            "spoof_inputs": sorted({d.input for d in batch}),
            "spoofed_sent": len(batch),
            "spoofed_admitted": len(admitted),
            "spoofed_admitted_by_input": dict(Counter(admitted)),
            "spoof_per_input": plan.per_input,
            "spoof_workers": plan.workers,
            "spoof_seconds": round(elapsed, 3),  # from the last refused send
            "spoof_gap_seconds": round(started - last_limited_sent, 3),
            "spoof_allowance": drain.spoof_allowance(rate_per_second, elapsed),
            "spoof_tail_seconds": round(ended - last_send[0], 3),
        }
    )
    return drain.spoofing_verdict(
        what, results, rate_per_second=rate_per_second, elapsed_s=elapsed,
        tail_s=ended - last_send[0],
    )  # fmt: skip


RECOVERY_POLLS = 6  # at most, in RECOVERY_LIMIT_S: 0.5 s doubling to 8 s


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """The timed requests; the drain to its first 429 (a bucket within the tolerance, up
    to the drain's budget); the disguised batch; one per client after Retry-After; the
    recovery polls when it ended refused. The drain spends the target's budget on
    purpose, unpaced."""
    limit = run.profile.rate_limit
    endpoint = next(iter(_protected_gets(run)), None)
    if endpoint is None:
        return Cost.exactly(0)  # every drain skips: no protected GET to drain
    inputs = len(clients.client_inputs(other_route=_other_route(run, endpoint)))
    slack = checks.limit_slack(limit.burst, limit.tolerance_ratio)
    low = (
        drain.SERVICE_SAMPLES + max(1, limit.burst - slack) + 1
        + drain.SPOOF_MIN_PER_INPUT * inputs + len(KINDS)
    )  # fmt: skip
    high = (
        drain.SERVICE_SAMPLES + drain.drain_budget(limit.burst)
        + drain.SPOOF_MAX_PER_INPUT * inputs + len(KINDS) + RECOVERY_POLLS
    )  # fmt: skip
    return Cost(low, high) * len(tests)


def budget_requests(run: Run, tests: list[tuple[str, str]]) -> int:
    """What the drain costs a budgeted run, in paced requests: its time, not its requests.

    Most of its requests are refused and take no token (the disguised batch: 70 to 240),
    and it sends them unpaced in a moment. What the others lose is the time it holds the
    target alone (at most an honest Retry-After, by then refilled) and the bucket it leaves
    to refill: at most `max_honest_retry_after + burst / rate` seconds at the paced rate.
    """
    limit = run.profile.rate_limit
    held_s = checks.max_honest_retry_after(limit.burst, limit.rate_per_second)
    seconds = held_s + limit.burst / limit.rate_per_second
    return math.ceil(seconds * run.pacer.rate_per_second) * len(tests)
