"""The interleaved xdist scheduler, driven the way xdist's controller drives it.

``Worker`` stands in for xdist's ``WorkerController`` and for the worker process behind
it (its queue, the steal command, shutdown), ``Controller`` for ``DSession``'s handling of
worker events. A dead worker's sends fail as execnet's do, and the controller learns of
the death only when it processes the worker's last event, so every interleaving the real
race allows can be played. The real thing, through pytester and two real workers, is in
test_worker_crash_race.py.
"""

from __future__ import annotations

import inspect
import random
from collections import deque
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_llmeval.run.scheduling import InterleavedScheduling, expected_workers

SHUTDOWN = -1


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __getattr__(self, name: str) -> Log:
        return self

    def __call__(self, *args: object) -> None:
        self.lines.append(" ".join(map(str, args)))


class Worker:
    """A worker as the scheduler sees it, and as it behaves: it starts an item only once
    it holds the next one (or a shutdown), and gives up stolen items only if it has not
    reached them."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.queue: list[int] = []  # commands applied, SHUTDOWN included
        self.outbox: deque[tuple[Any, ...]] = deque()  # events not yet processed
        self.dead = self.down = self.shutdown_sent = self.finished = False
        self.failed_sends = 0

    def __repr__(self) -> str:
        return self.gateway.id  # type: ignore[no-any-return]

    @property
    def shutting_down(self) -> bool:
        return self.down or self.shutdown_sent

    def _send(self, what: str) -> None:
        assert not self.down, f"{what} sent to {self}, whose end the controller has seen"
        if self.dead:
            self.failed_sends += 1
            raise OSError("cannot send (already closed?)")

    def send_runtest_some(self, indices: list[int]) -> None:
        self._send("runtests")
        self.queue.extend(indices)

    def send_steal(self, indices: list[int]) -> None:
        self._send("steal")
        reachable = self.queue[2:]  # the running item and the next are out of its queue
        stolen = list(indices) if all(i in reachable for i in indices) else []
        self.queue = [i for i in self.queue if i not in stolen]
        self.outbox.append(("unscheduled", stolen))

    def shutdown(self) -> None:  # xdist's own shutdown swallows a failed send
        if not self.down:
            if not self.dead:
                self.queue.append(SHUTDOWN)
            self.shutdown_sent = True

    def can_run(self) -> bool:
        return (
            not (self.dead or self.finished)
            and len(self.queue) >= 1
            and (self.queue[0] == SHUTDOWN or len(self.queue) >= 2)
        )

    def run_one(self) -> None:
        index = self.queue.pop(0)
        if index == SHUTDOWN:
            self.finished = self.down = True
            self.outbox.append(("finished",))
        else:
            self.outbox.append(("complete", index))


class Controller:
    """DSession's part: events in, scheduler calls out, replacements for dead workers."""

    def __init__(self, config: pytest.Config, workers: int, items: int) -> None:
        self.sched = InterleavedScheduling(config, Log())
        self.collection = [f"eval.jsonl::q{i:03d}" for i in range(items)]
        self.workers = [Worker(f"gw{i}") for i in range(workers)]
        self.joining = list(self.workers)  # started, not yet ready or collected
        self.shuttingdown = False
        self.completed: list[int] = []
        self.crashed: list[str] = []

    def join(self, worker: Worker) -> None:
        self.joining.remove(worker)
        if self.shuttingdown:
            worker.shutdown()
            return
        self.sched.add_node(worker)
        self.sched.add_node_collection(worker, self.collection)
        if self.sched.collection_is_completed:
            self.sched.schedule()
        self._after_event()

    def deliver(self, worker: Worker) -> None:
        event, *args = worker.outbox.popleft()
        if event == "complete":
            self.completed.append(args[0])
            self.sched.mark_test_complete(worker, args[0])
        elif event == "unscheduled":
            self.sched.remove_pending_tests_from_node(worker, args[0])
        elif event == "finished":
            if worker in self.sched.nodes:
                assert self.sched.remove_node(worker) is None
        elif event == "errordown":
            crashitem = self.sched.remove_node(worker) if worker in self.sched.nodes else None
            if crashitem:
                self.crashed.append(crashitem)
            self.shuttingdown = False
            replacement = Worker(f"gw{len(self.workers)}")
            self.workers.append(replacement)
            self.joining.append(replacement)
        self._after_event()

    def _after_event(self) -> None:
        if self.sched.tests_finished and not self.shuttingdown:
            self.shuttingdown = True
            for node in self.sched.nodes:
                node.shutdown()

    def kill(self, worker: Worker) -> None:
        worker.dead = True  # from now on sends fail; the controller does not know yet

    def eof(self, worker: Worker) -> None:
        """The receiver thread reads the closed pipe: xdist marks the worker down and
        queues its exit behind everything it sent before dying."""
        worker.down = True
        worker.outbox.append(("errordown",))

    def moves(self, deaths_left: int) -> list[tuple[Any, Worker]]:
        moves: list[tuple[Any, Worker]] = [(self.join, w) for w in self.joining]
        for w in self.workers:
            if w.outbox:
                moves.append((self.deliver, w))
            if w.can_run():
                moves.append((Worker.run_one, w))
            if w.dead and not w.down:
                moves.append((self.eof, w))
            if deaths_left and not (w.dead or w.finished) and w not in self.joining:
                moves.append((self.kill, w))
        return moves


@pytest.fixture
def config(pytester: pytest.Pytester) -> Any:
    return lambda n: pytester.parseconfig("-p", "xdist", "--tx", f"{n}*popen")


def _started(config: Any, workers: int, items: int) -> Controller:
    controller = Controller(config(workers), workers, items)
    for w in list(controller.joining):
        controller.join(w)
    return controller


def test_items_are_dealt_round_robin(config: Any) -> None:
    c = _started(config, 3, 10)
    assert [w.queue for w in c.workers] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]


def test_a_worker_left_with_one_item_takes_half_the_longest_queue(config: Any) -> None:
    c = _started(config, 2, 12)
    fast, slow = c.workers
    for _ in range(5):  # 0, 2, 4, 6, 8 done; 10 left, which it cannot start alone
        fast.run_one()
        c.deliver(fast)
    assert slow.outbox == deque([("unscheduled", [7, 9, 11])])
    c.deliver(slow)
    assert fast.queue == [10, 7, 9, 11] and slow.queue == [1, 3, 5]
    assert c.sched.node2pending == {fast: [10, 7, 9, 11], slow: [1, 3, 5]}


def test_a_dead_worker_is_set_aside_until_its_exit_names_its_item(config: Any) -> None:
    """The interleaving of the flaky INTERNALERROR: the other worker's item done is
    processed after the death and before the exit event."""
    c = _started(config, 2, 12)
    fast, slow = c.workers
    c.kill(slow)  # running q001, five more queued
    for _ in range(5):
        fast.run_one()
        c.deliver(fast)  # the last one asks the dead worker for work: the send fails
    assert slow.failed_sends == 1 and c.sched.lost == {slow} and c.sched.steal_from is None
    assert not fast.shutting_down and not c.sched.tests_finished  # q010 waits for work
    c.eof(slow)
    c.deliver(slow)
    assert c.crashed == ["eval.jsonl::q001"]
    assert fast.queue == [10, 3, 5, 7, 9, 11] and c.sched.lost == set()


def test_different_collections_deal_nothing_and_say_why(
    pytester: pytest.Pytester, config: Any
) -> None:
    reports: list[pytest.CollectReport] = []

    class Spy:
        def pytest_collectreport(self, report: pytest.CollectReport) -> None:
            reports.append(report)

    cfg = config(2)
    cfg.pluginmanager.register(Spy())
    sched = InterleavedScheduling(cfg, Log())
    a, b = Worker("gw0"), Worker("gw1")
    for w, items in ((a, ["x::a", "x::b"]), (b, ["x::a", "x::c"])):
        sched.add_node(w)
        sched.add_node_collection(w, items)
    sched.schedule()
    assert a.queue == b.queue == [] and sched.collection is None
    (report,) = reports
    assert report.failed and "-x::b\n+x::c" in str(report.longrepr)


def test_every_item_ends_once_whenever_workers_die(config: Any) -> None:
    """Random interleavings of runs, steals, deaths and exits: every item is done or named
    as a crash exactly once, no command reaches a worker the controller knows is down, a
    dead worker is sent to at most once, and the session always ends."""
    configs = {n: config(n) for n in range(1, 5)}
    for seed in range(500):
        rng = random.Random(seed)
        workers, items, deaths = rng.randint(1, 4), rng.randint(0, 24), rng.randint(0, 3)
        c = _started(lambda n: configs[n], workers, items)
        for _ in range(10_000):
            moves = c.moves(deaths)
            if not moves:
                break
            # an exit read late keeps the window open (dead, not yet known) for longer
            weights = [0.1 if move == c.eof else 1.0 for move, _ in moves]
            move, worker = rng.choices(moves, weights)[0]
            deaths -= move == c.kill
            move(worker)
        else:
            pytest.fail(f"seed {seed}: the session never ended")
        crashed = [c.collection.index(name) for name in c.crashed]
        assert sorted(c.completed + crashed) == list(range(items)), (seed, c.completed, crashed)
        assert all(w.failed_sends <= 1 for w in c.workers), seed
        assert c.sched.node2pending == {} and c.sched.pending == [], seed


def test_worker_count_matches_xdist(pytester: pytest.Pytester) -> None:
    from xdist import workermanage

    # xdist's own helper, renamed in 3.7 (parse_spec_config before): one more reason the
    # scheduler imports nothing of xdist
    parse = getattr(workermanage, "parse_tx_spec_config", None) or workermanage.parse_spec_config
    for tx in (["popen"], ["popen"] * 3, ["3*popen"], ["2*popen", "ssh=host//python=python3"]):
        cfg = pytester.parseconfig("-p", "xdist", *(a for spec in tx for a in ("--tx", spec)))
        assert expected_workers(tx) == len(parse(cfg)), tx


def test_implements_xdist_scheduler_protocol() -> None:
    protocol = pytest.importorskip("xdist.scheduler.protocol").Scheduling  # xdist >= 3.6
    members = {n for n in dir(protocol) if not n.startswith("_")}
    for name in members:
        ours, theirs = getattr(InterleavedScheduling, name), getattr(protocol, name)
        if callable(theirs):
            assert inspect.signature(ours).parameters.keys() == (
                inspect.signature(theirs).parameters.keys()
            ), name
        else:
            assert isinstance(ours, property), name
