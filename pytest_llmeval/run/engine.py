"""The prefetch engine: every item's request is known once collection ends, so generation
runs ahead of the item that needs it.

One asyncio loop in a background thread owns the model (one HTTP connection pool). Planned
requests start in run order, bounded by an adaptive concurrency limit and a look-ahead
window of started-but-unclaimed results, which also bounds what ``-x`` or Ctrl-C waste.
An item claims its result (waiting if needed); a request nobody planned starts at once,
ahead of the queue. Cached answers are served without touching the model at all.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import threading
import time
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from pytest_llmeval import conversation
from pytest_llmeval.conversation import Conversation
from pytest_llmeval.models.base import Completion, GenerateParams, Message, Model, ModelError
from pytest_llmeval.run.budget import Budget, BudgetStop, Estimate
from pytest_llmeval.run.health import Health
from pytest_llmeval.run.limiter import AdaptiveLimiter
from pytest_llmeval.store import cache

T = TypeVar("T")
CacheLookup = Callable[[list[str]], Mapping[str, Completion]]  # key -> cached answer


@dataclass(frozen=True)
class FollowUp:
    """A request to plan as soon as this one's answer arrives: ``kind`` names the follower
    that the engine's owner registered (``Engine.followers``), ``payload`` is plain data
    (requests travel to the xdist controller pickled)."""

    kind: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    """One generation request: ``id`` is the item's node id (``NODEID#K`` for a sample's
    try K > 0, see ``request_id``), ``repeat`` the try's index in the cache key."""

    id: str
    messages: Sequence[Message]
    params: GenerateParams
    follow: FollowUp | None = field(default=None, compare=False)
    repeat: int = 0
    # what follows the first request (more turns, tool results, a solver): the engine
    # runs the whole conversation, each of its calls cached and counted on its own
    conversation: Conversation | None = field(default=None, compare=False)


def request_id(nodeid: str, repeat: int) -> str:
    """A try's request id: derivable from a stored row (node id, repeat) alone, so a resumed
    run finds its answers whichever way its tries were split into items."""
    return nodeid if repeat == 0 else f"{nodeid}#{repeat}"


@dataclass
class EngineStats:
    planned: int = 0
    prefetched: int = 0  # claimed after being started ahead of time
    cold: int = 0  # claimed before anything started it
    cache_hits: int = 0
    model_calls: int = 0
    errors: int = 0
    retries: int = 0
    batches: int = 0
    wasted: int = 0  # started, never claimed (cancelled or thrown away)
    unsent: int = 0  # not sent: they could have passed the budget
    resumed: int = 0  # answered from the resumed run's own rows and answers
    extra: dict[str, Any] = field(default_factory=dict)


def _timed(comp: Completion, started: float) -> Completion:
    """When the call ran (Unix seconds), for traces: items claim results long after."""
    meta = {**comp.metadata, "started_at": started, "ended_at": time.time()}
    return Completion(**{**comp.__dict__, "metadata": meta})


def _retrieved(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def make_batches(block: Sequence[Request], size: int) -> list[list[Request]]:
    """Group requests with equal params, sorted by prompt length, into batches of ``size``;
    the batch holding the block's first request comes first, then by earliest member."""
    order = {r.id: i for i, r in enumerate(block)}
    groups: dict[GenerateParams, list[Request]] = {}
    for r in block:
        groups.setdefault(r.params, []).append(r)
    batches = []
    for reqs in groups.values():
        reqs.sort(key=lambda r: sum(len(m.get("content", "")) for m in r.messages))
        batches += [reqs[i : i + size] for i in range(0, len(reqs), size)]
    return sorted(batches, key=lambda b: min(order[r.id] for r in b))


def _backoff(attempt: int, retry_after: float | None) -> float:
    """The server's Retry-After when it gave a sane one, else exponential with jitter
    (0.5 s doubling to 8 s, minus up to 25%), as the openai SDK does."""
    if retry_after is not None and 0 < retry_after <= 60:
        return retry_after
    return min(0.5 * 2.0**attempt, 8.0) * (1 - 0.25 * random.random())


class Engine:
    """Plans, prefetches, caches and rate-limits calls to one model."""

    def __init__(
        self,
        make_model: Callable[[], Model],
        *,
        identity: Callable[[], Mapping[str, Any]] | None,
        concurrency: int = 16,
        window: int | None = None,
        cache_mode: str = "auto",
        cache_lookup: CacheLookup | None = None,
        max_retries: int = 4,
        give_up_after: int = 8,
        batch_size: int = 1,
        stall_timeout: float = 120.0,
        replay: Mapping[str, Completion] | None = None,
        pricer: Callable[[Completion], float | None] | None = None,
        budget: Budget | None = None,
        estimate: Callable[[Sequence[Message], GenerateParams], Estimate] | None = None,
    ) -> None:
        self._make_model = make_model
        self._identity_fn = identity
        self._identity: Mapping[str, Any] | None = None
        self._model: Model | None = None
        self.concurrency = concurrency
        self.window = window or 4 * concurrency
        self.cache_mode = cache_mode
        self._cache_lookup = cache_lookup
        self.max_retries = max_retries
        self.batch_size = batch_size
        # Called on the loop with a planned request's answer (cached ones too) when the
        # request names a follow-up of that kind: the runner plans the judge's request as
        # soon as there is an answer to grade.
        self.followers: dict[str, Callable[[Request, Completion], None]] = {}
        # Called on the loop with each answer the model gave (not cache hits): the recorder
        # keeps them as they arrive, so Ctrl-C loses only what was still in flight.
        self.on_answer: Callable[[Request, Completion], None] | None = None
        self._replay = dict(replay or {})
        # what a call cost (USD; None: no price), and the run's budget with the bound of a
        # request's cost before it is sent
        self._pricer = pricer
        self.budget = budget
        self._estimate = estimate
        self.health = Health(
            self._where,
            self._remote,
            self._on_dead,
            max_retries=max_retries,
            give_up_after=give_up_after,
            stall_timeout=stall_timeout,
        )
        self._dead_future: asyncio.Future[None] | None = None  # done once health gives up
        self._watchdog: asyncio.Task[None] | None = None
        self._feeds_limiter = False
        self.stats = EngineStats()
        self.limiter = AdaptiveLimiter(concurrency)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # loop-thread state
        self._queue: deque[Request] = deque()
        self._tasks: dict[str, asyncio.Future[Completion]] = {}
        self._unclaimed: set[str] = set()
        self._wake: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._closed = False
        # The claim fast path: planned answers ready to hand over (filled on the loop, popped
        # by any thread), and claims made without the loop, which it settles in bulk. An
        # item whose answer is ready then costs no round-trip to the loop's thread: that
        # hand-off (a self-pipe write and a wait for the GIL) was ~1 ms per item.
        self._ready: dict[str, Completion] = {}
        self._claimed: deque[str] = deque()
        self._settle_lock = threading.Lock()
        self._settle_pending = False
        self._generate_batch: Callable[..., Any] | None = None  # a local model's batch call
        self._block_tasks: set[asyncio.Task[None]] = set()

    # -- public, called from pytest's thread ----------------------------------------------
    @property
    def identity(self) -> Mapping[str, Any]:
        if self._identity is None:
            if self._identity_fn is not None:
                self._identity = self._identity_fn()
            else:  # a plugin's model: ask it (built on the loop, where it will live)
                model = self._submit(self._get_model()).result()
                self._identity = dict(model.identity())
        return self._identity

    def plan(self, requests: Sequence[Request]) -> None:
        """Queue requests in the order items will claim them; cached ones resolve now."""
        if not requests:
            return
        hits = self._cached(requests)
        self.stats.planned += len(requests)
        self._soon(self._add_plan, list(requests), hits)

    def result(self, request: Request) -> Completion:
        """The completion for ``request``: wait for it, or start it now if nobody did."""
        ready = self._ready.pop(request.id, None)
        if ready is not None:
            self._claimed_without_loop(request.id)
            return ready
        return self._submit(self._claim(request)).result()

    def _claimed_without_loop(self, rid: str) -> None:
        """Tell the loop an answer was taken, in bulk: it is woken once its window has
        room for a useful batch of new requests, not once per item."""
        self._claimed.append(rid)
        with self._settle_lock:
            if self._settle_pending or len(self._claimed) < self._settle_every:
                return
            self._settle_pending = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(self._settle)

    @property
    def _settle_every(self) -> int:
        # A quarter of the room the window keeps beyond the requests in flight: the loop
        # still has finished answers queued for the items while it refills.
        return max(1, (self.window - self.concurrency) // 4)

    def _settle(self) -> None:
        """On the loop: account for the claims made without it, and refill the window."""
        with self._settle_lock:
            self._settle_pending = False
        settled = False
        while self._claimed:
            rid = self._claimed.popleft()
            if rid in self._unclaimed:
                self.stats.prefetched += 1
                self._unclaimed.discard(rid)
            self._tasks.pop(rid, None)
            settled = True
        if settled:
            self._kick()

    def generate(
        self, messages: Sequence[Message], params: GenerateParams, repeat: int = 0
    ) -> Completion:
        """A direct call outside the plan (the ``model`` fixture), ahead of the queue; its
        answer is read from and kept in the cache like any other."""
        return self._submit(self._step(messages, params, repeat, priority=True)).result()

    def key(self, request: Request) -> str:
        return cache.cache_key(self.identity, request.params, request.messages, request.repeat)

    def close(self) -> None:
        """Cancel what is still queued or running, then stop the loop."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._submit(self._shutdown()).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def request_report(self) -> dict[str, Any] | None:
        """What the model says it sent this session (see ``Model``), if it says."""
        report = getattr(self._model, "request_report", None)
        return dict(report()) if callable(report) else None

    def summary(self) -> dict[str, Any]:
        out = asdict(self.stats)
        out.update(
            concurrency=self.concurrency,
            batch_size=self.batch_size,
            window=self.window,
            cache=self.cache_mode,
            rate_limited=self.limiter.stats.rate_limited,
            concurrency_cuts=self.limiter.stats.cuts,
            min_concurrency=int(self.limiter.stats.min_limit),
            max_in_flight=self.limiter.stats.max_in_flight,
        )
        if self.budget is not None:
            b = self.budget
            out["budget"] = {
                "limit": b.describe(),
                "spent_usd": b.spent_usd,
                "spent_tokens": b.spent_tokens,
                "unsent": b.unsent,
                "stopped_at": dict(b.stopped_at),
            }
        dead = self.health.dead
        if dead is not None:
            out["stopped"] = {
                "kind": dead.fatal,
                "reason": str(dead),
                "since": self.health.failing_since,
            }
        return out

    # -- plumbing ----------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="llmeval-engine", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    def _soon(self, fn: Callable[..., None], *args: Any) -> None:
        self._ensure_loop().call_soon_threadsafe(fn, *args)

    def _cached(self, requests: Sequence[Request]) -> dict[str, Completion]:
        if self._cache_lookup is None:
            return {}
        # a conversation's calls are looked up one by one as it runs
        readable = [
            r for r in requests if r.conversation is None and cache.reads(self.cache_mode, r.params)
        ]
        if not readable:
            return {}
        keys = {r.id: self.key(r) for r in readable}
        found = self._cache_lookup(sorted(set(keys.values())))
        return {rid: found[key] for rid, key in keys.items() if key in found}

    # -- on the loop -----------------------------------------------------------------------
    def _add_plan(self, requests: list[Request], hits: dict[str, Completion]) -> None:
        loop = asyncio.get_running_loop()
        for req in requests:
            if req.id in self._tasks:
                continue
            replayed = self._replay.pop(req.id, None)
            if replayed is not None or req.id in hits:
                fut: asyncio.Future[Completion] = loop.create_future()
                fut.set_result(replayed or hits[req.id])
                self._tasks[req.id] = fut
                if replayed is not None:
                    self.stats.resumed += 1
                else:
                    self.stats.cache_hits += 1
                self._done(req, fut.result())
                self._ready[req.id] = fut.result()
            else:
                self._queue.append(req)
        self._ensure_dispatcher()

    def _ensure_dispatcher(self) -> None:
        loop = asyncio.get_running_loop()
        if self._dead_future is None:
            self._dead_future = loop.create_future()
        if self._dispatcher is None:
            self._wake = asyncio.Event()
            self._dispatcher = loop.create_task(self._dispatch())
            self._watchdog = loop.create_task(self.health.watch(lambda: self._closed))
        else:
            self._kick()

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while not self._closed:
            if self.health.dead is None and self._queue and len(self._unclaimed) < self.window:
                model = await self._get_model()
                generate_batch = getattr(model, "agenerate_batch", None)
                if generate_batch is not None and self.batch_size > 1:
                    self._generate_batch = generate_batch
                    block = self._take_block()
                    if block:
                        await self._run_block(generate_batch, block)
                        continue
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                while self._queue and len(self._unclaimed) < self.window:
                    req = self._queue.popleft()
                    if req.id not in self._tasks:
                        self._start(req, priority=False)
            self._wake.clear()
            await self._wake.wait()

    def _take_block(self, claimed: Request | None = None) -> list[Request]:
        """Local models: the next block of the plan to generate, in whole batches.

        A block waits until the window has room for a full batch (a few claims freeing a
        slot or two would otherwise start batches of one or two, which is where batching's
        gain went), except at the plan's tail and for an item that is already waiting on
        its request (``claimed``): that block runs at once, up to and including it.
        """
        size = max(1, min(self.batch_size, self.window))
        room = self.window - len(self._unclaimed)
        if claimed is not None:
            at = next((i for i, r in enumerate(self._queue) if r.id == claimed.id), None)
            if at is None:
                return []
            want = max(at + 1, size)
        elif len(self._queue) <= room:
            want = len(self._queue)  # the tail (or a plan that fits the window)
        else:
            want = (room // size) * size
        block: list[Request] = []
        while self._queue and len(block) < want:
            req = self._queue.popleft()
            if req.id in self._tasks:
                continue
            if req.conversation is not None:  # several calls in turn: not a batch member
                self._start(req, priority=False)
                continue
            block.append(req)
        loop = asyncio.get_running_loop()
        for req in block:
            self._tasks[req.id] = loop.create_future()
            self._unclaimed.add(req.id)
        return block

    async def _run_block(self, generate_batch: Callable[..., Any], block: list[Request]) -> None:
        """Run a block as batches.

        The block is sorted by prompt length so each batch pads little, and batches run one
        at a time (one device), the one holding the earliest planned request first so the
        running item never waits for later ones.
        """
        futures = {req.id: self._tasks[req.id] for req in block}
        for batch in make_batches(block, self.batch_size):
            self.stats.batches += 1
            self.stats.model_calls += len(batch)
            started = time.time()
            try:
                done = await generate_batch([(r.messages, r.params) for r in batch])
            except Exception as exc:
                error = (
                    exc
                    if isinstance(exc, ModelError)
                    else ModelError(f"{type(exc).__name__}: {exc}")
                )
                self.stats.errors += len(batch)
                for r in batch:
                    if not futures[r.id].done():
                        futures[r.id].set_exception(error)
                continue
            self.health.answered()
            for r, comp in zip(batch, done, strict=True):
                if isinstance(comp, ModelError):  # this request alone failed (out of memory)
                    self.stats.errors += 1
                    if not futures[r.id].done():
                        futures[r.id].set_exception(comp)
                    continue
                if not futures[r.id].done():
                    keyed = self._with_key(r, _timed(comp, started))
                    futures[r.id].set_result(keyed)
                    self._done(r, keyed)
                    self._answer(r, keyed)
                    self._ready[r.id] = keyed

    def _start(self, req: Request, priority: bool) -> asyncio.Future[Completion]:
        task = asyncio.get_running_loop().create_task(self._run(req, priority))
        # its claimer may have stopped waiting (a dead server): never "never retrieved"
        task.add_done_callback(_retrieved)
        self._tasks[req.id] = task
        self._unclaimed.add(req.id)
        return task

    async def _run(self, req: Request, priority: bool) -> Completion:
        if req.conversation is not None:
            comp = await self._converse(req, priority)
        else:
            comp = self._with_key(req, await self._request(req.messages, req.params, priority))
        self._done(req, comp)
        self._answer(req, comp)
        if not priority:
            self._ready[req.id] = comp
        return comp

    def _answer(self, req: Request, comp: Completion) -> None:
        if self.on_answer is not None:
            with contextlib.suppress(Exception):
                self.on_answer(req, comp)

    def _done(self, req: Request, comp: Completion) -> None:
        follower = self.followers.get(req.follow.kind) if req.follow is not None else None
        if follower is not None:
            # A follow-up that cannot be planned now is made when its item claims it.
            with contextlib.suppress(Exception):
                follower(req, comp)

    def _with_key(self, req: Request, comp: Completion) -> Completion:
        """Tag the answer with its cache key (and the key's components, which the entry
        keeps) when the cache should keep it."""
        if not cache.writes(self.cache_mode, req.params):
            return comp
        parts = cache.key_parts(self.identity, req.params, req.messages, req.repeat)
        meta = {**comp.metadata, "cache_key": self.key(req), "cache_parts": parts}
        return Completion(**{**comp.__dict__, "metadata": meta})

    async def _get_model(self) -> Model:
        if self._model is None:
            # Built here, in the loop's thread: clients bind to the loop that made them.
            self._model = self._make_model()
            listen = getattr(self._model, "add_status_listener", None)
            if listen is not None:
                listen(self.limiter.observe)
            else:  # a model that reports no HTTP statuses: its outcomes stand in for them
                self._feeds_limiter = True
        return self._model

    async def _claim(self, req: Request) -> Completion:
        self._settle()
        fut = self._tasks.get(req.id)
        if fut is None:
            replayed = self._replay.pop(req.id, None)
            if replayed is not None:
                self.stats.resumed += 1
                self._done(req, replayed)
                return replayed
            self.stats.cold += 1
            block = self._take_block(req) if self._generate_batch is not None else []
            started = self._tasks.get(req.id)  # a conversation the block started alone
            if started is not None and not block:
                fut = started
            elif block:  # batching: its block now, not a batch of one
                generate_batch = self._generate_batch
                assert generate_batch is not None
                task = asyncio.get_running_loop().create_task(
                    self._run_block(generate_batch, block)
                )
                task.add_done_callback(_retrieved)
                self._block_tasks.add(task)
                task.add_done_callback(self._block_tasks.discard)
                fut = self._tasks[req.id]
            else:
                fut = self._start(req, priority=True)
        elif req.id in self._unclaimed:
            self.stats.prefetched += 1
        try:
            if not fut.done():
                if self._dead_future is None:
                    self._dead_future = asyncio.get_running_loop().create_future()
                # a dead server ends every wait at once, answered or not
                waits: set[asyncio.Future[Any]] = {fut, self._dead_future}
                await asyncio.wait(waits, return_when=FIRST_COMPLETED)
            if not fut.done():
                raise self.health.error()
            return fut.result()
        finally:
            if not fut.done():
                # given up on (a dead server): nobody else waits for it, and once out of
                # _tasks the shutdown could not cancel it
                fut.cancel()
            self._ready.pop(req.id, None)
            self._unclaimed.discard(req.id)
            self._tasks.pop(req.id, None)
            self._kick()

    async def _converse(self, req: Request, priority: bool) -> Completion:
        """A conversation: each call through ``_step`` (cache, limit, retries)."""
        assert req.conversation is not None

        async def call(messages: Sequence[Message], params: GenerateParams) -> Completion:
            return await self._step(messages, params, req.repeat, priority)

        return await conversation.run(req.messages, req.params, req.conversation, call)

    async def _step(
        self, messages: Sequence[Message], params: GenerateParams, repeat: int, priority: bool
    ) -> Completion:
        """One call of a conversation (or the ``model`` fixture): answered from the cache
        when it can be, else sent; a new answer carries the cache entry to keep."""
        await self._get_model()  # a plugin's model knows its own identity
        identity = self._known_identity()
        key = cache.cache_key(identity, params, messages, repeat)
        lookup = self._cache_lookup
        if lookup is not None and cache.reads(self.cache_mode, params):
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(None, lookup, [key])
            if key in found:
                self.stats.cache_hits += 1
                return found[key]
        comp = await self._request(messages, params, priority)
        if not cache.writes(self.cache_mode, params):
            return comp
        parts = cache.key_parts(identity, params, messages, repeat)
        keyed = Completion(
            **{
                **comp.__dict__,
                "metadata": {**comp.metadata, "cache_key": key, "cache_parts": parts},
            }
        )
        from pytest_llmeval.result import MAX_TEXT, Call

        if len(keyed.text) <= MAX_TEXT:
            entry = cache.entry(Call.from_completion(keyed), None)
            keyed = Completion(
                **{**keyed.__dict__, "metadata": {**keyed.metadata, "cache_entry": entry}}
            )
        return keyed

    async def _request(
        self, messages: Sequence[Message], params: GenerateParams, priority: bool
    ) -> Completion:
        """One request with retries. A retry gives its slot back while it waits, so the
        adaptive limit really lowers the load, and re-queues ahead of new requests."""
        model = await self._get_model()
        budget, est = self.budget, None
        if budget is not None and self._estimate is not None:
            est = self._estimate(messages, params)
            if not budget.admit(est):
                self.stats.unsent += 1
                raise BudgetStop(
                    f"not sent: the run's budget ({budget.describe()}) could be passed by this "
                    f"request (spent ${budget.spent_usd:.4f}, {budget.spent_tokens:,} tokens)"
                )
        self.health.sent()
        comp: Completion | None = None
        try:
            comp = await self._attempts(model, messages, params, priority)
            return comp
        finally:
            self.health.settled()
            if budget is not None and est is not None:
                used = (comp.prompt_tokens or 0) + (comp.completion_tokens or 0) if comp else 0
                usd = float(comp.metadata.get("cost_usd") or 0.0) if comp else 0.0
                budget.settle(est, usd, used)

    async def _attempts(
        self, model: Model, messages: Sequence[Message], params: GenerateParams, priority: bool
    ) -> Completion:
        health = self.health
        for attempt in range(self.max_retries + 1):
            if health.dead is not None:
                raise health.error()
            await self.limiter.acquire(priority or attempt > 0)
            if health.dead is not None:
                self.limiter.release()
                raise health.error()
            self.stats.model_calls += 1
            started = time.time()
            sent = time.monotonic()
            try:
                comp = await model.agenerate(messages, params)
            except ModelError as exc:
                if self._feeds_limiter and exc.status is not None:
                    self.limiter.observe(exc.status, sent)
                last = not exc.retryable or attempt == self.max_retries
                if health.dead is None:
                    health.attempt_failed(exc, last)
                if health.dead is None and last:
                    self.stats.errors += 1
                    health.request_failed(exc, attempt + 1)
                if health.dead is not None:
                    raise health.error() from None
                if last:
                    raise ModelError(
                        f"{exc} (after {attempt + 1} attempts)" if attempt else str(exc),
                        status=exc.status,
                    ) from None
                delay = _backoff(attempt, exc.retry_after)
            else:
                if self._feeds_limiter:
                    self.limiter.observe(200, sent)
                health.answered()
                if self._pricer is not None:
                    cost = self._pricer(comp)
                    if cost is not None:
                        comp = Completion(
                            **{**comp.__dict__, "metadata": {**comp.metadata, "cost_usd": cost}}
                        )
                return _timed(comp, started)
            finally:
                self.limiter.release()
            self.stats.retries += 1
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # -- health ----------------------------------------------------------------------------
    def _known_identity(self) -> Mapping[str, Any]:
        """The identity without blocking the loop (``identity`` may wait on it)."""
        if self._identity is None:
            if self._identity_fn is not None:
                self._identity = self._identity_fn()
            elif self._model is not None:
                self._identity = dict(self._model.identity())
        return self._identity or {}

    def _remote(self) -> bool:
        return bool(self._known_identity().get("base_url"))

    def _where(self) -> str:
        ident = self._known_identity()
        return str(ident.get("base_url") or ident.get("model") or "the model")

    def _on_dead(self) -> None:
        """Health gave up: nothing queued is sent, and every wait ends now."""
        self._queue.clear()
        if self._dead_future is not None and not self._dead_future.done():
            self._dead_future.set_result(None)

    async def _shutdown(self) -> None:
        self._settle()
        self._closed = True
        self._queue.clear()
        self._kick()
        pending = [t for t in self._tasks.values() if isinstance(t, asyncio.Task)]
        self.stats.wasted += len([rid for rid in self._unclaimed if rid in self._tasks])
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for block in list(self._block_tasks):
            block.cancel()
        await asyncio.gather(*self._block_tasks, return_exceptions=True)
        for background in (self._dispatcher, self._watchdog):
            if background is not None:
                background.cancel()
                await asyncio.gather(background, return_exceptions=True)
        for fut in self._tasks.values():  # batch futures nobody will claim now
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled():
                fut.exception()  # mark retrieved: no "never retrieved" noise at exit
        if self._model is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._model.aclose(), 5)
