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
connection by an environment variable, never by its password. Data Docs (static HTML) go to gx/uncommitted/data_docs/
by default, in the project's output directory: the checkout, or the per-user data directory when the
project is the installed package's copy (nothing is written inside an installed package). GX writes
files only: the database is read, never written, so a hot standby validates like its primary.
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
from html import escape
from pathlib import Path

from delivery_linkage import project
from delivery_linkage.database.connection import ConnectionSettings, connect, sqlalchemy_engine_kwargs
from delivery_linkage.database.schemas import app_schema, marts_schema
from delivery_linkage.database.schemas import quote_identifier as _quote

DATASOURCE = "delivery_linkage"
DOCS_SITE = "delivery_linkage"
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


@dataclass
class ExpectationOutcome:
    suite: str
    expectation_type: str
    column: str | None
    success: bool
    observed: str
    notes: str | None = None


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
    def exit_status(self) -> int:
        """0 when every expectation passed, 1 when any failed."""
        return 0 if self.success else 1

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
                out.append(f"      x {failure.expectation_type} {column}- {failure.observed}")
        total = sum(s.evaluated for s in self.suites)
        out.append(
            f"{total - len(self.failures)}/{total} expectations passed in {len(self.suites)} suites "
            f"({self.seconds:.1f} s); run {self.run_name!r}, {len(self.runs)} runs kept; "
            f"Data Docs: {self.data_docs_index}"
        )
        return out

    def as_dict(self) -> dict:
        return {
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
                    "evaluated": s.evaluated,
                    "failed": [
                        {"expectation_type": f.expectation_type, "column": f.column, "observed": f.observed}
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
MART_RELATIONS = ("delivery_integrity", "delivery_integrity_history", "stg_app__user_link_audit")


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


def _context(context_dir: Path, data_docs_dir: Path):
    """The file-based context in context_dir (created the first time), its Data Docs site in data_docs_dir."""
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", context_root_dir=str(context_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    sites = context.list_data_docs_sites()
    if DOCS_SITE not in sites:
        context.add_data_docs_site(DOCS_SITE, site)
    elif sites[DOCS_SITE] != site:
        context.update_data_docs_site(DOCS_SITE, site)
    for name in [name for name in context.list_data_docs_sites() if name != DOCS_SITE]:
        context.delete_data_docs_site(name)  # the scaffold's local_site: one site, ours
    return context


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
    critical_pct: float = 1.0,
    progress: Progress | None = None,
    suites_dir: Path | None = None,
    run_name: str | None = None,
    context_dir: Path | None = None,
) -> ValidationSummary:
    """Runs every suite in suites_dir (default: the project's) against the database as one named run,
    keeps its results in the file-based context (context_dir, default `<data_docs_dir>/../context`)
    with every earlier run's, and rebuilds the Data Docs in data_docs_dir (default_data_docs_dir()),
    which index them all.

    Raises connection.ConnectionError_ (unreachable database), ValidationSetupError (missing tables or
    models, bad suite file) or project.ProjectNotFound, each with the fix in the message.
    """
    started = time.perf_counter()
    suite_files = load_suites(suites_dir)
    _require_relations(settings)
    data_docs_dir = Path(data_docs_dir or default_data_docs_dir()).resolve()
    context_dir = Path(context_dir).resolve() if context_dir else data_docs_dir.parent / "context"
    data_docs_dir.mkdir(parents=True, exist_ok=True)
    run_time = datetime.now(UTC)
    run_name = run_name or f"linkage-validate-{run_time:%Y%m%dT%H%M%SZ}"

    os.environ[CONNECTION_VARIABLE] = settings.sqlalchemy_url()
    context = _context(context_dir, data_docs_dir)
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    run_id = RunIdentifier(run_name=run_name, run_time=run_time)
    outcomes: list[SuiteOutcome] = []
    keys: dict = {}
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
        keys[suite_file.name] = next(iter(result.run_results), None)
    if progress:
        progress("data docs", total, total)
    context.build_data_docs(site_names=[DOCS_SITE])
    for outcome in outcomes:
        outcome.docs_page = _docs_page(context, keys.get(outcome.name))
    runs = _kept_runs(context)
    _add_static_summary(data_docs_dir, outcomes, run_name, runs)
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


def _docs_page(context, key) -> Path | None:
    if key is None:
        return None
    from urllib.parse import unquote, urlparse

    for site in context.get_docs_sites_urls(resource_identifier=key, site_names=[DOCS_SITE]):
        url = site.get("site_url") or ""
        if url.startswith("file://"):
            return Path(unquote(urlparse(url).path))
    return None


SUMMARY_START = "<!-- delivery_linkage summary -->"
SUMMARY_END = "<!-- /delivery_linkage summary -->"


def _add_static_summary(
    data_docs_dir: Path, outcomes: list[SuiteOutcome], run_name: str, runs: list[RunRecord]
) -> None:
    """Puts a plain-HTML summary of this run, and the list of every run kept, at the top of Data
    Docs' index.html.

    GX's index is filled in by JavaScript and styled by CSS from CDNs: opened offline it shows an
    empty table. The summary (inline styles, relative links to each suite's result page) reads
    the same with or without a network.
    """
    index = data_docs_dir / "index.html"
    if not index.exists():
        return
    html = index.read_text()
    if SUMMARY_START in html:
        html = html[: html.index(SUMMARY_START)] + html[html.index(SUMMARY_END) + len(SUMMARY_END) :]
    rows = []
    for outcome in outcomes:
        colour = "#1a7f37" if outcome.success else "#cf222e"
        link = escape(outcome.name)
        if outcome.docs_page:
            try:
                relative = outcome.docs_page.resolve().relative_to(data_docs_dir)
                link = f'<a href="{escape(relative.as_posix())}">{link}</a>'
            except ValueError:
                pass
        failed = "".join(
            f"<li><code>{escape(f.expectation_type)}</code> "
            f"{escape(f.column or '')}: {escape(f.observed)}</li>"
            for f in outcome.failed
        )
        rows.append(
            f'<tr><td style="color:{colour};font-weight:bold">{"PASS" if outcome.success else "FAIL"}</td>'
            f"<td>{link}</td><td>{escape(outcome.layer)}</td><td>{escape(outcome.data_asset)}</td>"
            f"<td>{outcome.evaluated - len(outcome.failed)}/{outcome.evaluated}</td>"
            f'<td><ul style="margin:0;padding-left:1.2em">{failed}</ul></td></tr>'
        )
    passed = all(o.success for o in outcomes)
    run_rows = "".join(
        f"<tr><td>{escape(run.run_name)}</td><td>{escape(run.run_time)}</td>"
        f'<td style="color:{"#1a7f37" if not run.failed_suites else "#cf222e"}">'
        f"{run.suites - run.failed_suites}/{run.suites} suites pass</td></tr>"
        for run in runs
    )
    block = (
        f'{SUMMARY_START}<section id="delivery-linkage-summary" style="font-family:sans-serif;'
        'margin:1em;padding:1em;border:1px solid #d0d7de;border-radius:6px">'
        f'<h2 style="margin-top:0">delivery_linkage validation: '
        f'<span style="color:{"#1a7f37" if passed else "#cf222e"}">'
        f"{'all suites pass' if passed else 'failures'}"
        "</span></h2>"
        '<table style="border-collapse:collapse" cellpadding="4">'
        "<tr><th>status</th><th>suite</th><th>layer</th><th>data asset</th><th>passed</th>"
        "<th>failed</th></tr>" + "".join(rows) + "</table>"
        f'<h3>Every run kept ({len(runs)}; this one: {escape(run_name)})</h3>'
        '<table id="delivery-linkage-runs" style="border-collapse:collapse" cellpadding="4">'
        "<tr><th>run</th><th>time (UTC)</th><th>result</th></tr>" + run_rows + f"</table></section>{SUMMARY_END}"
    )
    at = html.find(">", html.find("<body")) + 1 if "<body" in html else 0
    index.write_text(html[:at] + block + html[at:])


def _suite_outcome(suite_file: SuiteFile, checkpoint_result) -> SuiteOutcome:
    expectations = []
    for run_result in checkpoint_result.run_results.values():
        for result in run_result.results:
            config = result.expectation_config
            kwargs = config.kwargs or {}
            column = (
                kwargs.get("column")
                or (", ".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
                or (f"{kwargs['column_A']}, {kwargs['column_B']}" if kwargs.get("column_A") else None)
            )
            expectations.append(
                ExpectationOutcome(
                    suite=suite_file.name,
                    expectation_type=config.type,
                    column=column,
                    success=bool(result.success),
                    observed=_observed(result),
                    notes=config.notes if isinstance(config.notes, str) else None,
                )
            )
    return SuiteOutcome(
        name=suite_file.name,
        layer=suite_file.layer,
        data_asset=suite_file.asset["name"],
        success=bool(checkpoint_result.success) and all(e.success for e in expectations),
        evaluated=len(expectations),
        expectations=expectations,
    )
