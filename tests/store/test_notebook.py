"""notebooks/results_analysis.ipynb runs top to bottom on a database made here (two runs of
two models), in a kernel of this environment, and draws its figures."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from evalkit import EvalProject

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient")
for _module in ("ipykernel", "matplotlib", "pandas"):
    pytest.importorskip(_module, reason=f"the notebook test needs {_module}")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "results_analysis.ipynb"


def _outputs(nb: Any) -> list[Any]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def test_notebook_runs_on_two_models(project: EvalProject, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location(
        "report_screenshot", REPO / "scripts" / "report_screenshot.py"
    )
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    project.server.configure(script=demo.write_demo_project(project.path, n_qa=12, n_json=6))
    judge = ["--judge-model", "openai/judge", "--judge-base-url", project.server.base_url]
    project.run(*judge, model=f"openai/{demo.BASELINE_MODEL}")
    project.run(*judge, model=f"openai/{demo.CANDIDATE_MODEL}")
    base_id, cand_id = (r["id"] for r in project.runs())

    nb = nbformat.read(NOTEBOOK, as_version=4)
    # no SQL in the notebook: everything goes through the public Results API
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "Results(" in source and "sqlite3" not in source and "SELECT" not in source
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))

    monkeypatch.setenv("LLMEVAL_DB", str(project.db))
    monkeypatch.delenv("LLMEVAL_BASELINE", raising=False)
    monkeypatch.delenv("LLMEVAL_CANDIDATE", raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(project.path)}},
    )
    client.execute()

    outputs = _outputs(nb)
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert errors == []
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "Traceback" not in stderr
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 3  # by model, by slice, the comparison
    text = "".join(
        o.text if o.output_type == "stream" else o.get("data", {}).get("text/plain", "")
        for o in outputs
    )
    assert f"{project.db}: 2 runs" in text
    assert f"openai/{demo.BASELINE_MODEL}" in text and f"openai/{demo.CANDIDATE_MODEL}" in text
    assert f"llmeval compare: baseline {base_id} (model openai/{demo.BASELINE_MODEL})" in text
    assert f"-> candidate {cand_id} (model openai/{demo.CANDIDATE_MODEL})" in text
    assert "REGRESSION" in text or "underpowered" in text
    assert f"run {cand_id}: " in text and "samples failed" in text
    # the kernel ran this environment's Python (where pytest_llmeval is installed)
    last = nb.cells[-1].outputs[0].text.strip()
    assert os.path.realpath(last) == os.path.realpath(sys.executable)
