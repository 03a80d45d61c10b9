"""dbt-labs' dbt-project-evaluator over the project finds nothing but the documented exceptions.

Needs local copies of the evaluator and dbt-utils (vendor/, or EVALUATOR_DIR / DBT_UTILS_DIR);
skipped, saying where they go, when absent. `make evaluate` runs the same evaluation and prints it.
"""

from __future__ import annotations

import pytest

from evaluator_project import evaluate

pytestmark = pytest.mark.dbt


def test_the_evaluator_flags_nothing_but_documented_exceptions():
    copies = evaluate.Copies.from_environment()
    if missing := copies.missing():
        pytest.skip(missing)

    evaluation = evaluate.evaluate(copies)

    assert evaluation.returncode == 0, evaluation.output[-4000:]
    assert evaluation.findings == {}, evaluate.issues_report(evaluation.output)
    # the exceptions are the evaluator's own mechanism, each with its reason
    rows = (evaluate.EVALUATION_PROJECT / "seeds" / "dbt_project_evaluator_exceptions.csv").read_text()
    assert all(line.count(",") >= 3 and line.rstrip().endswith('"') for line in rows.splitlines()[1:])
