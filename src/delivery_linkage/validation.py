"""`linkage validate`: Great Expectations suites on the linkage's sources and marts, with Data Docs.

The suites are JSON files in gx/expectations/ (GX Core 1.x suite format, reviewed like code). Each
names its data asset in `meta.delivery_linkage.data_asset`: a table (`schema` app or marts) or a
query in which `{app_schema}` and `{marts_schema}` stand for the app schema (LINKAGE_APP_SCHEMA,
default public) and the models' schema (DBT_SCHEMA, default linkage). Expectation kwargs may use
the parameter `critical_pct` (`{"$PARAMETER": "critical_pct"}`).

The suites are read from the project's gx/expectations/ (delivery_linkage.project: the checkout, or
the copy inside the installed package). GX runs in a file-based context (gx/uncommitted/context/ by
default: beside the Data Docs folder, `<docs dir>/../context`), so every run's validation results are
kept: each run is named (`linkage-validate-<UTC time>` unless given) and the Data Docs index lists
every run. No network: analytics off, no cloud. It reads the same database as every command (libpq
variables, else the embedded server) through SQLAlchemy; the context's configuration names the
connection by an environment variable, never by its password. GX writes files only: the database is
read, never written, so a hot standby validates like its primary.

Every expectation has a severity (GX's `severity`: warning or critical). The run's verdict is the worst
severity that failed, with the exit codes of `linkage check`: the marts suite judges the integrity by
the runbook's alert levels (any linkable-but-NULL delivery, a missing flag row or an audit write
failure: warning; the share above critical_pct: critical), so on the marts validate says what check
says; the source suites' data-quality expectations are warnings. critical_pct defaults to the threshold
the models were built with (dbt var linkage_critical_pct), as in `linkage check`.

Data Docs are the project's own static pages (templates/data_docs_*.html.j2), written from the
validation results the context keeps: they load nothing (no CDN, no font, no logo, no script) and so
render the same with the network off and call no outside host. GX's own Data Docs site is not built.
They go to gx/uncommitted/data_docs/ by default, in the project's output directory: the checkout, or
the per-user data directory when the project is the installed package's copy (nothing is written
inside an installed package).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from delivery_linkage import project
from delivery_linkage.database.connection import ConnectionSettings, connect, sqlalchemy_engine_kwargs
from delivery_linkage.database.schemas import app_schema, marts_schema
from delivery_linkage.database.schemas import quote_identifier as _quote

DATASOURCE = "delivery_linkage"
# the context's great_expectations.yml refers to the database by this variable, set for each run
CONNECTION_VARIABLE = "LINKAGE_GX_CONNECTION_STRING"

Progress = Callable[[str, int, int], None]
"""progress(description, done, total): called before each suite and once more at the end."""


class ValidationSetupError(RuntimeError):
    """The validation could not run (missing tables, bad suite file); the message names the fix."""


def suites_dir(project_dir: Path | None = None) -> Path:
    """The project's suites (project.ProjectNotFound when there is no project)."""
    return project.project_dir(project_dir) / "gx" / "expectations"


def default_data_docs_dir(project_dir: Path | None = None) -> Path:
    """gx/uncommitted/data_docs in the project's output directory (the checkout, or the per-user data directory)."""
    return project.output_dir(project.project_dir(project_dir)) / "gx" / "uncommitted" / "data_docs"


SEVERITY_STATUS = {"critical": "critical", "warning": "warning", "info": "healthy"}
STATUS_EXIT = {"healthy": 0, "warning": 1, "critical": 2}


@dataclass
class ExpectationOutcome:
    suite: str
    expectation_type: str
    column: str | None
    success: bool
    observed: str
    notes: str | None = None
    severity: str = "critical"
    kwargs: dict = field(default_factory=dict)


@dataclass
class SuiteOutcome:
    name: str
    layer: str
    data_asset: str
    success: bool
    evaluated: int
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    docs_page: Path | None = None

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.success]

    @property
    def status(self) -> str:
        """The worst severity among the failed expectations, as a status: healthy, warning or critical."""
        return worst_status(SEVERITY_STATUS.get(e.severity, "critical") for e in self.failed)


def worst_status(statuses) -> str:
    return max(statuses, key=lambda status: STATUS_EXIT[status], default="healthy")


@dataclass
class RunRecord:
    """One validation run kept in the context: its name, time, and how many suites passed."""

    run_name: str
    run_time: str
    suites: int
    failed_suites: int


@dataclass
class ValidationSummary:
    suites: list[SuiteOutcome]
    data_docs_index: Path
    seconds: float
    critical_pct: float
    run_name: str = ""
    context_dir: Path | None = None
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(suite.success for suite in self.suites)

    @property
    def status(self) -> str:
        """The verdict: the worst severity that failed (healthy when none did)."""
        return worst_status(suite.status for suite in self.suites)

    @property
    def exit_status(self) -> int:
        """0 healthy, 1 warning, 2 critical: the exit codes of `linkage check`."""
        return STATUS_EXIT[self.status]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [e for suite in self.suites for e in suite.failed]

    def lines(self) -> list[str]:
        """A short human summary: one line per suite, one per failed expectation."""
        out = []
        for suite in self.suites:
            passed = suite.evaluated - len(suite.failed)
            mark = "PASS" if suite.success else "FAIL"
            out.append(
                f"{mark}  {suite.name:<28} {passed}/{suite.evaluated} expectations  ({suite.data_asset})"
            )
            for failure in suite.failed:
                column = f"[{failure.column}] " if failure.column else ""
                out.append(f"      x {failure.severity}: {failure.expectation_type} {column}- {failure.observed}")
        total = sum(s.evaluated for s in self.suites)
        out.append(
            f"{total - len(self.failures)}/{total} expectations passed in {len(self.suites)} suites "
            f"({self.seconds:.1f} s, critical above {self.critical_pct:g}%): {self.status} (exit {self.exit_status}); "
            f"run {self.run_name!r}, {len(self.runs)} runs kept; Data Docs: {self.data_docs_index}"
        )
        return out

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "exit_code": self.exit_status,
            "success": self.success,
            "exit_status": self.exit_status,
            "critical_pct": self.critical_pct,
            "run_name": self.run_name,
            "runs_kept": len(self.runs),
            "context_dir": None if self.context_dir is None else str(self.context_dir),
            "data_docs_index": str(self.data_docs_index),
            "seconds": round(self.seconds, 3),
            "suites": [
                {
                    "name": s.name,
                    "layer": s.layer,
                    "data_asset": s.data_asset,
                    "success": s.success,
                    "status": s.status,
                    "evaluated": s.evaluated,
                    "failed": [
                        {
                            "expectation_type": f.expectation_type,
                            "column": f.column,
                            "severity": f.severity,
                            "observed": f.observed,
                        }
                        for f in s.failed
                    ],
                }
                for s in self.suites
            ],
        }


# --- suites ------------------------------------------------------------------------------------------


@dataclass
class SuiteFile:
    path: Path
    definition: dict
    layer: str
    asset: dict

    @property
    def name(self) -> str:
        return self.definition["name"]

    def query(self) -> str:
        """The asset's query: a table asset reads the whole table."""
        if "table" in self.asset:
            schema = app_schema() if self.asset.get("schema", "app") == "app" else marts_schema()
            return f"select * from {_quote(schema)}.{_quote(self.asset['table'])}"
        return (
            self.asset["query"]
            .replace("{app_schema}", _quote(app_schema()))
            .replace("{marts_schema}", _quote(marts_schema()))
        )


def load_suites(directory: Path | None = None) -> list[SuiteFile]:
    """The suite files (default: the project's), sources first then marts, each by name."""
    folder = Path(directory) if directory is not None else suites_dir()
    files = sorted(folder.glob("*.json"))
    if not files:
        raise ValidationSetupError(
            f"no expectation suites in {folder}\n"
            f"  fix: pass --project-dir DIR or set {project.PROJECT_VARIABLE}=DIR (a checkout of the project)"
        )
    suites = []
    for path in files:
        try:
            definition = json.loads(path.read_text())
            info = definition.get("meta", {}).get("delivery_linkage", {})
            asset = info["data_asset"]
            if not ("table" in asset or "query" in asset) or "name" not in asset:
                raise KeyError("data_asset needs a name and a table or a query")
        except (ValueError, KeyError) as error:
            raise ValidationSetupError(
                f"bad suite file {path}: {error}\n  fix: see the other files in {folder}"
            ) from None
        suites.append(SuiteFile(path, definition, info.get("layer", "sources"), asset))
    return sorted(suites, key=lambda s: (s.layer != "sources", s.name))


# --- checks before GX --------------------------------------------------------------------------------

APP_RELATIONS = ("event_guests", "message_deliveries", "messages", "user_link_audit")
MART_RELATIONS = ("daily_integrity_check", "delivery_integrity_history", "stg_app__user_link_audit")


def missing_relations(settings: ConnectionSettings) -> tuple[list[str], list[str]]:
    """(missing app relations, missing marts) as schema.name."""
    app = [f"{app_schema()}.{name}" for name in APP_RELATIONS]
    marts = [f"{marts_schema()}.{name}" for name in MART_RELATIONS]
    with connect(settings) as conn:

        def missing(names):
            return [
                n
                for n in names
                if conn.execute("select to_regclass(%s)", (_qualified(n),)).fetchone()[0] is None
            ]

        return missing(app), missing(marts)


def _qualified(name: str) -> str:
    schema, table = name.split(".", 1)
    return f"{_quote(schema)}.{_quote(table)}"


def _require_relations(settings: ConnectionSettings) -> None:
    missing_app, missing_marts = missing_relations(settings)
    if missing_app:
        raise ValidationSetupError(
            f"{settings.describe()} lacks {', '.join(missing_app)}\n"
            "  fix: point the libpq variables at the app database and deploy the linkage with `dbt run` "
            "(schema: LINKAGE_APP_SCHEMA, default public)"
        )
    if missing_marts:
        raise ValidationSetupError(
            f"{settings.describe()} lacks the metric models {', '.join(missing_marts)}\n"
            f"  fix: run `dbt run` (it builds them in schema DBT_SCHEMA, here {marts_schema()!r})"
        )


# --- GX ----------------------------------------------------------------------------------------------


def _quiet_gx() -> None:
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import logging

    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def _context(context_dir: Path):
    """The file-based context in context_dir (created the first time), with no Data Docs site: GX's pages
    load their style and scripts from CDNs; the project writes its own (write_data_docs)."""
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", context_root_dir=str(context_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    for name in list(context.list_data_docs_sites()):
        context.delete_data_docs_site(name)  # the scaffold's local_site, or an earlier version's site
    return context


def threshold_in_force(settings: ConnectionSettings) -> float:
    """The critical threshold the models were built with (dbt var linkage_critical_pct), as `linkage check`
    reads it."""
    relation = f"{_quote(marts_schema())}.daily_integrity_check"
    with connect(settings) as conn:
        return float(conn.execute(f"select critical_pct from {relation}").fetchone()[0])


def _observed(result) -> str:
    if result.exception_info and result.exception_info.get("raised_exception"):
        return (
            "error: " + str(result.exception_info.get("exception_message", "")).strip().splitlines()[0][:300]
        )
    details = result.result or {}
    if "unexpected_count" in details and details.get("element_count") is not None:
        checked = details["element_count"] - (details.get("missing_count") or 0)
        text = f"{details['unexpected_count']} of {checked} values unexpected"
        if details.get("unexpected_percent") is not None:
            text += f" ({details['unexpected_percent']:.2f}%)"
        sample = details.get("partial_unexpected_counts") or []
        sample = [item for item in sample if item["value"] is not None]
        if sample and details["unexpected_count"]:
            values = ", ".join(f"{_short(item['value'])} ×{item['count']}" for item in sample[:3])
            text += f"; e.g. {values}"
        return text
    if "observed_value" in details:
        return f"observed {_short(details['observed_value'])}"
    return "no result"


def _short(value) -> str:
    if isinstance(value, tuple | list):
        text = "(" + ", ".join(_short(v) for v in value) + ")"
    elif isinstance(value, Decimal | float):
        text = f"{float(value):g}"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def run_validation(
    settings: ConnectionSettings,
    data_docs_dir: Path | None = None,
    critical_pct: float | None = None,
    progress: Progress | None = None,
    suites_dir: Path | None = None,
    run_name: str | None = None,
    context_dir: Path | None = None,
) -> ValidationSummary:
    """Runs every suite in suites_dir (default: the project's) against the database as one named run,
    keeps its results in the file-based context (context_dir, default `<data_docs_dir>/../context`)
    with every earlier run's, and writes the Data Docs in data_docs_dir (default_data_docs_dir()),
    which index them all. critical_pct None: the threshold the models were built with.

    Raises connection.ConnectionError_ (unreachable database), ValidationSetupError (missing tables or
    models, bad suite file) or project.ProjectNotFound, each with the fix in the message.
    """
    started = time.perf_counter()
    suite_files = load_suites(suites_dir)
    _require_relations(settings)
    if critical_pct is None:
        critical_pct = threshold_in_force(settings)
    data_docs_dir = Path(data_docs_dir or default_data_docs_dir()).resolve()
    context_dir = Path(context_dir).resolve() if context_dir else data_docs_dir.parent / "context"
    data_docs_dir.mkdir(parents=True, exist_ok=True)
    run_time = datetime.now(UTC)
    run_name = run_name or f"linkage-validate-{run_time:%Y%m%dT%H%M%SZ}"

    os.environ[CONNECTION_VARIABLE] = settings.sqlalchemy_url()
    context = _context(context_dir)
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    run_id = RunIdentifier(run_name=run_name, run_time=run_time)
    outcomes: list[SuiteOutcome] = []
    total = len(suite_files)
    with warnings.catch_warnings():
        # a unix-socket URL has no host, which only the generic SQL datasource accepts
        warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
        datasource = context.data_sources.add_or_update_sql(
            DATASOURCE, connection_string="${" + CONNECTION_VARIABLE + "}", kwargs=sqlalchemy_engine_kwargs()
        )
    for done, suite_file in enumerate(suite_files):
        if progress:
            progress(f"validate {suite_file.name}", done, total)
        definition = {k: v for k, v in suite_file.definition.items() if k != "id"}
        suite = context.suites.add_or_update(gx.ExpectationSuite(**definition))
        asset_name = suite_file.asset["name"]
        if asset_name in {asset.name for asset in datasource.assets}:
            datasource.delete_asset(asset_name)  # the query names this run's schemas
        asset = datasource.add_query_asset(asset_name, query=suite_file.query())
        batch = asset.add_batch_definition_whole_table("all rows")
        validation = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite_file.name, data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(name=suite_file.name, validation_definitions=[validation], result_format="SUMMARY")
        )
        result = checkpoint.run(expectation_parameters={"critical_pct": float(critical_pct)}, run_id=run_id)
        outcomes.append(_suite_outcome(suite_file, result))
    if progress:
        progress("data docs", total, total)
    runs = _kept_runs(context)
    pages = write_data_docs(context, data_docs_dir, run_name, float(critical_pct))
    for outcome in outcomes:
        outcome.docs_page = pages.get((run_name, outcome.name))
    return ValidationSummary(
        suites=outcomes,
        data_docs_index=data_docs_dir / "index.html",
        seconds=time.perf_counter() - started,
        critical_pct=float(critical_pct),
        run_name=run_name,
        context_dir=context_dir,
        runs=runs,
    )


def _kept_runs(context) -> list[RunRecord]:
    """Every run whose results the context keeps, newest first."""
    runs: dict[tuple[str, str], list[bool]] = {}
    store = context.validation_results_store
    for key in store.list_keys():
        run_id = key.run_id
        run_time = run_id.run_time.isoformat() if run_id.run_time else ""
        runs.setdefault((run_id.run_name or "", run_time), []).append(bool(store.get(key).success))
    records = [
        RunRecord(run_name=name, run_time=run_time, suites=len(results), failed_suites=results.count(False))
        for (name, run_time), results in runs.items()
    ]
    return sorted(records, key=lambda record: record.run_time, reverse=True)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


def _expectation_outcomes(suite: str, validation_result) -> list[ExpectationOutcome]:
    outcomes = []
    for result in validation_result.results:
        config = result.expectation_config
        kwargs = {k: v for k, v in (config.kwargs or {}).items() if k != "batch_id"}
        column = (
            kwargs.get("column")
            or (", ".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
            or (f"{kwargs['column_A']}, {kwargs['column_B']}" if kwargs.get("column_A") else None)
        )
        severity = getattr(config, "severity", "critical")
        outcomes.append(
            ExpectationOutcome(
                suite=suite,
                expectation_type=config.type,
                column=column,
                success=bool(result.success),
                observed=_observed(result),
                notes=config.notes if isinstance(config.notes, str) else None,
                severity=str(getattr(severity, "value", severity)),
                kwargs=kwargs,
            )
        )
    return outcomes


def write_data_docs(context, data_docs_dir: Path, latest_run: str, critical_pct: float) -> dict:
    """The Data Docs: index.html (this run's suites with their status and every run kept) and one page
    per run and suite (runs/<run>/<suite>.html: every expectation, its status, severity, observed value),
    from the results the context keeps. Self-contained pages (inline CSS, no script, no link out).
    Returns {(run name, suite name): page}."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from markupsafe import Markup

    templates = Path(__file__).resolve().parent / "templates"
    env = Environment(
        loader=FileSystemLoader(templates), autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
        lstrip_blocks=True,
    )  # fmt: skip
    css = Markup((templates / "report.css").read_text(encoding="utf-8"))  # the project's own file
    store = context.validation_results_store
    runs: dict[tuple[str, str], list[dict]] = {}
    for key in store.list_keys():
        result = store.get(key)
        run_name = key.run_id.run_name or ""
        run_time = key.run_id.run_time.isoformat() if key.run_id.run_time else ""
        suite = key.expectation_suite_identifier.name
        expectations = _expectation_outcomes(suite, result)
        failed = [e for e in expectations if not e.success]
        runs.setdefault((run_time, run_name), []).append(
            {
                "name": suite,
                "page": f"runs/{_safe_name(run_name)}/{_safe_name(suite)}.html",
                "expectations": expectations,
                "evaluated": len(expectations),
                "failed": failed,
                "status": worst_status(SEVERITY_STATUS.get(e.severity, "critical") for e in failed),
                "meta": (result.meta or {}),
            }
        )
    ordered = [
        {"run_name": name, "run_time": time_, "suites": sorted(suites, key=lambda s: s["name"]),
         "status": worst_status(s["status"] for s in suites)}
        for (time_, name), suites in sorted(runs.items(), reverse=True)
    ]  # fmt: skip
    _remove_gx_site(data_docs_dir)
    pages = {}
    suite_page = env.get_template("data_docs_suite.html.j2")
    for run in ordered:
        for suite in run["suites"]:
            path = data_docs_dir / suite["page"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(suite_page.render(css=css, run=run, suite=suite, colours=STATUS_COLOURS), encoding="utf-8")
            pages[(run["run_name"], suite["name"])] = path
    latest = next((run for run in ordered if run["run_name"] == latest_run), ordered[0] if ordered else None)
    index = env.get_template("data_docs_index.html.j2").render(
        css=css, latest=latest, runs=ordered, colours=STATUS_COLOURS, critical_pct=critical_pct
    )
    (data_docs_dir / "index.html").write_text(index, encoding="utf-8")
    return pages


STATUS_COLOURS = {"healthy": "#1a7f37", "warning": "#bf8700", "critical": "#cf222e"}
GX_SITE_FOLDERS = ("static", "validations", "expectations")


def _remove_gx_site(data_docs_dir: Path) -> None:
    """An earlier version built GX's own site here (pages that load CDNs): its folders go, recognised
    by GX's stylesheet, so that nothing in the folder calls out."""
    import shutil

    if (data_docs_dir / "static" / "styles" / "data_docs_default_styles.css").exists():
        for name in GX_SITE_FOLDERS:
            shutil.rmtree(data_docs_dir / name, ignore_errors=True)


def _suite_outcome(suite_file: SuiteFile, checkpoint_result) -> SuiteOutcome:
    expectations = []
    for run_result in checkpoint_result.run_results.values():
        expectations += _expectation_outcomes(suite_file.name, run_result)
    return SuiteOutcome(
        name=suite_file.name,
        layer=suite_file.layer,
        data_asset=suite_file.asset["name"],
        success=bool(checkpoint_result.success) and all(e.success for e in expectations),
        evaluated=len(expectations),
        expectations=expectations,
    )
