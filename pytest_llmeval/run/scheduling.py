"""An xdist scheduler that deals items round-robin, so workers consume the collection in
nearly its own order.

The controller's engine generates in collection order. xdist's ``load`` scheduler hands
each worker a contiguous chunk, so eight workers would wait on eight far-apart regions of
the plan; dealing item ``i`` to worker ``i % N`` keeps every worker just behind the
engine's frontier. Work stealing (inherited) still rebalances a worker that falls behind.
Imported only when xdist is active.
"""

from __future__ import annotations

from xdist.scheduler import WorkStealingScheduling


class InterleavedScheduling(WorkStealingScheduling):
    """``--dist load`` for eval sessions: every item sent up front, interleaved."""

    collection: list[str] | None

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:  # a replacement worker joined: rebalance
            self.check_schedule()
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        if not self.collection:
            return
        nodes = self.nodes
        for k, node in enumerate(nodes):
            share = list(range(k, len(self.collection), len(nodes)))
            if share:
                self.node2pending[node].extend(share)
                node.send_runtest_some(share)
        self.pending[:] = []
        self.check_schedule()  # shuts down or rebalances nodes left with too little work
