"""An xdist scheduler that deals items round-robin, so workers consume the collection in
nearly its own order, and takes work from a worker that falls behind.

The controller's engine generates in collection order. xdist's ``load`` scheduler hands
each worker a contiguous chunk, so eight workers would wait on eight far-apart regions of
the plan; dealing item ``i`` to worker ``i % N`` keeps every worker just behind the
engine's frontier. A worker left with less than two items takes half of the longest
queue (xdist's ``steal`` command), as ``--dist worksteal`` does.

The class implements xdist's scheduler protocol (what ``DSession`` calls on the object
``pytest_xdist_make_scheduler`` returns) and imports nothing from xdist, so no private
xdist class can change under it. It keeps one state xdist's own schedulers lack: a worker
can die at any moment, and the controller learns of it only when that worker's receiver
thread reads the closed pipe, which a loaded machine can delay past the other workers'
next events. A send in that window fails (xdist's work stealing raises it as an
INTERNALERROR); here the worker is set aside as lost, never sent to again, and what it
held comes back when xdist processes its exit and reports the item it crashed on.
Imported only when xdist is active.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pytest

# A worker starts an item only once it holds the next one (or a shutdown): two items keep
# it running, one leaves it waiting for more.
MIN_PENDING = 2


class Node(Protocol):
    """What the scheduler uses of xdist's ``WorkerController``."""

    gateway: Any

    @property
    def shutting_down(self) -> bool: ...

    def send_runtest_some(self, indices: Sequence[int]) -> None: ...

    def send_steal(self, indices: Sequence[int]) -> None: ...

    def shutdown(self) -> None: ...


class InterleavedScheduling:
    """``--dist load`` for eval sessions: every item sent up front, interleaved."""

    def __init__(self, config: pytest.Config, log: Any) -> None:
        self.config = config
        self.log = log.interleavedsched
        self.numnodes = expected_workers(config.getvalue("tx"))
        self.collection: list[str] | None = None
        self.node2collection: dict[Node, list[str]] = {}
        self.node2pending: dict[Node, list[int]] = {}
        self.pending: list[int] = []  # items no worker holds
        self.steal_from: Node | None = None  # one steal request at a time
        self.lost: set[Node] = set()  # a send failed; its exit is not yet processed

    # -- what DSession reads -------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.node2collection) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.pending or self.steal_from is not None:
            return False
        return all(len(p) < MIN_PENDING for p in self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self.pending) or any(self.node2pending.values())

    # -- what DSession reports -----------------------------------------------------------
    def add_node(self, node: Node) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []

    def add_node_collection(self, node: Node, collection: Sequence[str]) -> None:
        assert node in self.node2pending
        if self.collection is not None:  # a replacement for a crashed worker
            other = next(iter(self.node2collection))
            diff = collection_diff(self.collection, collection, other, node)
            if diff:
                self.log(diff)
                self._send(node, node.shutdown)  # never given work
                return
        self.node2collection[node] = list(collection)

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:  # a replacement worker joined: rebalance
            self.check_schedule()
            return
        (first, collection), *others = self.node2collection.items()
        diffs = {n: collection_diff(collection, c, first, n) for n, c in others}
        if any(diffs.values()):
            for node, diff in diffs.items():
                if diff:
                    self.log(diff)
                    report = pytest.CollectReport(node.gateway.id, "failed", diff, [])
                    self.config.hook.pytest_collectreport(report=report)
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = collection
        nodes = [n for n in self.node2pending if n in self.node2collection]
        for k, node in enumerate(nodes):
            share = list(range(k, len(collection), len(nodes)))
            if share and not self._deal(node, share):
                self.pending.extend(share)  # a worker gone before its first item
        self.pending.sort()
        self.check_schedule()  # shuts down or rebalances nodes left with too little work

    def mark_test_complete(self, node: Node, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        self.check_schedule()

    def mark_test_pending(self, item: str) -> None:
        assert self.collection is not None
        self.pending.insert(0, self.collection.index(item))
        self.check_schedule()

    def remove_pending_tests_from_node(self, node: Node, indices: Sequence[int]) -> None:
        """The answer to a steal request: the items the worker gave up (maybe none)."""
        if node is self.steal_from:
            self.steal_from = None
        given = set(indices)
        if node in self.node2pending:
            self.node2pending[node] = [i for i in self.node2pending[node] if i not in given]
        self.pending.extend(indices)
        self.check_schedule()

    def remove_node(self, node: Node) -> str | None:
        """A worker finished or died: its items go back to the others. Returns the item it
        was running (the first it held), which xdist reports as the crash."""
        pending = self.node2pending.pop(node)
        self.lost.discard(node)
        if self.steal_from is node:  # a dead worker answers no steal request
            self.steal_from = None
        crashitem = None
        if pending:
            assert self.collection is not None
            crashitem = self.collection[pending.pop(0)]
        self.pending.extend(pending)
        self.check_schedule()
        return crashitem

    # -- dealing -------------------------------------------------------------------------
    def check_schedule(self) -> None:
        """Feed the workers left with less than two items: from the items no worker holds,
        else half of the longest queue, else (nothing left to run) shut them down."""
        live = [n for n in self.node2pending if self._usable(n)]
        idle = [n for n in live if len(self.node2pending[n]) < MIN_PENDING]
        if not idle:
            return
        if self.pending:
            for i, node in enumerate(idle):
                share = self.pending[: len(self.pending) // (len(idle) - i)]
                if not share:
                    continue
                if not self._deal(node, share):
                    self.check_schedule()  # that worker is gone: deal among the others
                    return
                del self.pending[: len(share)]
            idle = [n for n in idle if len(self.node2pending[n]) < MIN_PENDING]
            if not idle:
                return
        if self.steal_from is not None:
            return
        victim = max(live, key=lambda n: len(self.node2pending[n]))
        queue = self.node2pending[victim]
        count = min(len(queue) // 2, len(queue) - MIN_PENDING)
        if count > 0:
            if self._send(victim, victim.send_steal, queue[-count:]):
                self.steal_from = victim
            else:
                self.check_schedule()  # steal from another one
            return
        if any(len(self.node2pending[n]) > 1 for n in self.node2pending if n not in live):
            return  # a dead worker's items come back when its exit is processed
        for node in idle:
            self._send(node, node.shutdown)

    def _usable(self, node: Node) -> bool:
        return node not in self.lost and not node.shutting_down and node in self.node2collection

    def _deal(self, node: Node, share: list[int]) -> bool:
        if not self._send(node, node.send_runtest_some, share):
            return False
        self.node2pending[node].extend(share)
        return True

    def _send(self, node: Node, command: Callable[..., None], *args: Any) -> bool:
        """A failed send means the worker is gone and its exit event is still on its way:
        it is never sent to again, and what it holds stays booked to it until xdist
        removes it (the first item is the one it crashed on)."""
        try:
            command(*args)
        except OSError as exc:
            self.log(f"cannot send to {node.gateway.id} ({exc}): awaiting its exit")
            self.lost.add(node)
            return False
        return True


def expected_workers(tx: Sequence[str]) -> int:
    """How many workers xdist starts for ``--tx`` specs such as ``popen`` or ``3*popen``
    (``-n 3`` is three ``popen``)."""
    count = 0
    for spec in tx:
        times, star, _ = spec.partition("*")
        count += int(times) if star and times.isdigit() else 1
    return count


def collection_diff(ours: Sequence[str], theirs: Sequence[str], a: Node, b: Node) -> str:
    """xdist's message for two workers that collected different items ('' if the same)."""
    if list(ours) == list(theirs):
        return ""
    a_id, b_id = a.gateway.id, b.gateway.id
    lines = difflib.unified_diff(ours, theirs, fromfile=a_id, tofile=b_id, lineterm="")
    return (
        f"Different tests were collected between {a_id} and {b_id}. The difference is:\n"
        + "\n".join(lines)
        + "\nTo see why this happens see 'Known limitations' in documentation for pytest-xdist"
    )
