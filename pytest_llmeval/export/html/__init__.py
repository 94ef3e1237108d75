"""The HTML report of a run: ``llmeval report RUN --html out.html``, or
``--llmeval-report html:PATH`` at the end of a session.

    from pytest_llmeval.export.html import render, write_report

    write_report(".llmeval/llmeval.db", "latest", "report.html", baseline="20261120T...")

Plots need matplotlib (the ``report`` extra); without it the report has every table and no
plots. Importing this package imports neither matplotlib nor numpy.
"""

from __future__ import annotations

from pathlib import Path

from pytest_llmeval.export.html.html import render
from pytest_llmeval.export.html.samples import json_diff
from pytest_llmeval.store.results import Results

__all__ = ["json_diff", "render", "write_report"]


def write_report(
    results_or_db: Results | Path | str,
    run_id: str,
    path: Path | str,
    baseline: str | None = None,
    *,
    top: int = 10,
) -> Path:
    """Render run ``run_id`` (an id, a unique prefix or ``latest``) of a results database (a
    path, or an open :class:`Results`) to ``path``; returns the path written.

    ``baseline`` (a run reference) adds the baseline's values and deltas and a comparison:
    the one stored with the run when the run was gated against that baseline, otherwise a
    fresh one with the default margins. Without ``baseline``, the run's own gate baseline is
    used when there is one (and still in the database)."""
    if isinstance(results_or_db, Results):
        return _write(results_or_db, run_id, Path(path), baseline, top)
    with Results(results_or_db) as results:
        return _write(results, run_id, Path(path), baseline, top)


def _write(results: Results, ref: str, path: Path, baseline: str | None, top: int) -> Path:
    from pytest_llmeval.gate.baseline import Comparison, compare

    run = results.run(ref)
    samples = results.samples(run.id)
    baseline_run = baseline_samples = comparison = None
    if baseline is not None or run.baseline:
        try:
            baseline_run = results.run(baseline if baseline is not None else str(run.baseline))
        except LookupError:
            if baseline is not None:
                raise
    if baseline_run is not None:
        baseline_samples = results.samples(baseline_run.id)
        if run.comparison and run.baseline == baseline_run.id:
            comparison = Comparison.from_dict(run.comparison)
        else:
            comparison = compare(
                baseline_samples,
                samples,
                baseline_label=baseline_run.id,
                candidate_label=run.id,
            )
    html = render(
        run,
        samples,
        baseline_run,
        comparison,
        baseline_samples=baseline_samples,
        top=top,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
