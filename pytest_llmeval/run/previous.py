"""The stored runs a session builds on: the baseline it is gated against, and the run it
resumes. Both are checked before any test runs; a run that cannot serve is a usage error."""

from __future__ import annotations

import socket

import pytest

from pytest_llmeval.run.options import Options
from pytest_llmeval.store.results import Results, Run, check_baseline
from pytest_llmeval.store.storage import StoreError

RESUMABLE = ("interrupted", "incomplete", "aborted", "errored")
# what must be the same for a resumed run to continue the same evaluation
SAME_MODEL = ("base_url", "temperature", "max_tokens", "adapter", "load_in_4bit",
              "load_in_8bit", "dtype", "revision")  # fmt: skip


def baseline_run(config: pytest.Config, options: Options) -> tuple[Run | None, str | None]:
    """The run ``--llmeval-baseline`` names, and a line saying which it is; a usage error
    (exit 4) that leaves no trace in the database when it cannot be one. ``latest`` is the
    newest complete, full run without errors of the same model."""
    ref = options.baseline
    if ref is None or config.getoption("collectonly"):
        return None, None
    model = options.model.spec if options.model else None
    try:
        with Results(options.db_path) as results:
            run = results.run(ref, model=model if ref == "latest" else None)
        check_baseline(run, config.rootpath, options.baseline_force)
    except (StoreError, LookupError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) else str(exc)
        hint = (
            "; run once without --llmeval-baseline to make one"
            if ref == "latest" and isinstance(exc, LookupError)
            else ""
        )
        raise pytest.UsageError(f"--llmeval-baseline {ref}: {message}{hint}") from None
    picked = "latest = " if ref == "latest" else ""
    return run, (
        f"baseline {picked}{run.id} (model {run.model}, {run.n_results} samples, "
        f"{run.status}, started {run.started_at[:16]})"
    )


def resumed_run(config: pytest.Config, options: Options) -> Run | None:
    """The run ``--llmeval-resume`` continues: one that did not complete, of the same model,
    parameters and data; any difference is a usage error."""
    ref = options.resume
    if ref is None or config.getoption("collectonly"):
        return None
    model = options.model.spec if options.model else None
    where = f"--llmeval-resume {ref}"
    try:
        with Results(options.db_path) as results:
            results.store.sweep_stale(socket.gethostname())
            if ref == "latest":
                runs = results.runs(limit=1, model=model)
                if not runs or runs[0].model != model:
                    raise LookupError(f"no run of model {model} to resume")
                run = runs[0]
            else:
                run = results.run(ref)
    except (StoreError, LookupError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) else str(exc)
        raise pytest.UsageError(f"{where}: {message}") from None
    if run.status not in RESUMABLE:
        raise pytest.UsageError(
            f"{where}: run {run.id} is {run.status}; only an interrupted, incomplete, "
            "aborted or errored run can be resumed"
        )
    if run.model != model:
        raise pytest.UsageError(f"{where}: run {run.id} evaluated model {run.model}, not {model}")
    params = {
        "base_url": options.model.base_url if options.model else None,
        "temperature": options.temperature,
        "max_tokens": options.max_tokens,
        **(options.model.options if options.model else {}),
    }
    for key in SAME_MODEL:
        if run.params.get(key) != params.get(key):
            raise pytest.UsageError(
                f"{where}: run {run.id} ran with {key}={run.params.get(key)!r}, this "
                f"session with {key}={params.get(key)!r}"
            )
    try:
        # the data must be unchanged
        check_baseline(run, config.rootpath, force=True, hint="start a new run instead")
    except ValueError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None
    return run
