"""A worker that dies while the controller has not yet read its end: the other worker's
finished item must not make the scheduler's send to the dead one an INTERNALERROR.

Under load the controller can process the surviving worker's "item done" between the
moment a worker dies and the moment its receiver thread reads the closed pipe; a steal
(or new work) sent to the dead worker then fails. The conftest below holds that window
open on purpose, so every run goes through it:

- the crashing worker's receiver thread on the controller is held at that worker's first
  report, so the controller still believes it alive and busy with its whole share;
- the crashing worker dies at the chosen moment of its second item;
- the other worker's trigger item waits until the crashing process is gone (its file lock
  is released by the kernel), then finishes, which leaves it with one item: the scheduler
  rebalances, and the only worker with work to give is the dead one;
- the held receiver is released once the controller has processed that item.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evalkit import EvalProject

# Items are dealt round-robin over two workers: one runs the even samples, the other the
# odd ones. The odd worker dies; the even one's trigger (its fifth item) leaves it one.
RACE_CONFTEST = """
import json, os, threading, time
import pytest

with open(os.path.join(os.path.dirname(__file__), "race.json")) as f:
    RACE = json.load(f)
DYING = os.path.join(RACE["dir"], "dying")
released = threading.Event()
collected = []


def _name(nodeid):
    return nodeid.rsplit("::", 1)[-1]


def _die(item):
    if item.name == RACE["crash"]:
        with open(DYING + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(DYING + ".tmp", DYING)
        os._exit(3)


# -- on the workers ----------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if RACE["when"] == "logstart":
        _die(item)
    result = yield
    if RACE["when"] == "logfinish":
        _die(item)
    return result


def pytest_runtest_setup(item):
    if RACE["when"] == "setup":
        _die(item)


def pytest_runtest_call(item):
    if RACE["when"] == "call":
        _die(item)
    if item.name == RACE["trigger"]:
        while not os.path.exists(DYING):
            time.sleep(0.01)


def pytest_runtest_teardown(item):
    if RACE["when"] == "teardown":
        _die(item)


# -- on the controller -------------------------------------------------------------------
def pytest_xdist_node_collection_finished(node, ids):
    collected[:] = ids


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(config, data):
    # runs in the sending worker's receiver thread: holding it keeps that worker's later
    # events, its end of stream included, from reaching the controller's queue
    if _name(data.get("nodeid", "")) == RACE["first"] and data.get("when") == "setup":
        open(os.path.join(RACE["dir"], "held"), "w").close()
        released.wait(60)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_xdist_make_scheduler(config, log):
    sched = yield
    complete = sched.mark_test_complete

    def mark_test_complete(node, item_index, duration=0):
        trigger = _name(collected[item_index]) == RACE["trigger"]
        if trigger:
            with open(DYING) as f:
                pid = int(f.read())
            # returns once every thread of the crashed worker has exited (its pipes are
            # closed), without reaping it: execnet still waits for it at teardown
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            held = os.path.exists(os.path.join(RACE["dir"], "held"))
            open(os.path.join(RACE["dir"], "raced" if held else "missed"), "w").close()
        try:
            return complete(node, item_index, duration)
        finally:
            if trigger:
                released.set()

    sched.mark_test_complete = mark_test_complete
    return sched


def pytest_sessionfinish(session):
    released.set()
"""

MOMENTS = ("logstart", "setup", "call", "teardown", "logfinish")


@pytest.mark.slow
def test_worker_dying_while_the_other_finishes_an_item_is_a_crash_report(
    project: EvalProject, tmp_path: Path
) -> None:
    """Each moment of the crashing item, twice: every run must end in xdist's crash report
    for that item, every other row, an incomplete run and the llmeval summary."""
    project.qa_suite(12)
    project.pytester.makeconftest(RACE_CONFTEST)
    for attempt, when in enumerate(MOMENTS * 2):
        locks = tmp_path / f"locks{attempt}"
        locks.mkdir()
        race = {"first": "q001", "crash": "q003", "trigger": "q008", "when": when}
        (project.path / "race.json").write_text(json.dumps({**race, "dir": str(locks)}))
        result = project.run("-n", "2")
        out = result.stdout.str()
        assert "INTERNALERROR" not in out + result.stderr.str(), (when, out)
        result.stdout.fnmatch_lines(
            ["*worker 'gw*' crashed while running*q003*", "llmeval run *: incomplete*"]
        )
        assert result.ret == 1, (when, out)
        run = project.runs()[-1]
        # a crash after the call phase keeps the sample's row: its result had arrived
        rows = 12 if when in ("teardown", "logfinish") else 11
        assert run["status"] == "incomplete" and run["n_results"] == rows, (when, run)
        assert len(project.runs()) == attempt + 1
        # the window was open: the crashed worker was gone, its end of stream unread
        assert (locks / "raced").exists(), when
