"""The integrity figures are defined once, in the dbt models, and read by everything else.

`linkage check`, the psql script and the marts all show the same row; the runbook's (original daily
script's) figure is shown beside the project's; the check says how to build the models when they
are missing; the hourly figures, found through the indexes, are the runbook's query's and the
categories' on the same data, after links, unlinks, removals and the historical backfill.
"""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal

import pytest

from delivery_linkage import project
from delivery_linkage.database import dbt_runner
from delivery_linkage.operations import check as integrity
from delivery_linkage_devtools import synthetic
from delivery_linkage_devtools.testing import world as w

pytestmark = pytest.mark.dbt
TARGET = "target/pytest_integrity"
PSQL_SCRIPT = project.project_dir() / "scripts" / "daily-delivery-integrity-check.sql"

# The original app's daily script's main query (unveil-app/scripts/daily-delivery-integrity-check.sql),
# rewritten here from what it computes: every delivery joined to its guest, NULL user with a guest user.
ORIGINAL_DAILY_QUERY = """
select
    count(*) as total_deliveries,
    count(*) filter (where d.user_id is null and g.user_id is not null) as inconsistent_deliveries,
    round(100.0 * count(*) filter (where d.user_id is null and g.user_id is not null)
        / nullif(count(*), 0), 2) as inconsistency_percentage,
    case
        when count(*) filter (where d.user_id is null and g.user_id is not null) = 0 then 'HEALTHY'
        when count(*) filter (where d.user_id is null and g.user_id is not null) <= 2 then 'MINOR_ISSUES'
        else 'NEEDS_ATTENTION'
    end as health_status
from message_deliveries as d
join event_guests as g on g.id = d.guest_id
"""


def dbt(settings, *args):
    return dbt_runner.run_dbt(list(args), settings, target_path=TARGET)




def issue_10_world(conn) -> None:
    """The data of issue 10: 13 deliveries; 3 without an existing guest; 7 NULL-user deliveries of
    guests with a user, one of them removed; 2 consistent; 1 of a guest without a user."""
    event = w.event(conn)
    message = w.message(conn, event)
    conn.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    for _ in range(6):
        w.deliver(conn, message, w.guest(conn, event, w.user(conn)))
    w.deliver(conn, message, w.guest(conn, event, w.user(conn), removed=True))
    for _ in range(2):
        person = w.user(conn)
        w.deliver(conn, message, w.guest(conn, event, person), user_id=person)
    w.deliver(conn, message, w.guest(conn, event))
    w.deliver(conn, message)
    for _ in range(2):
        conn.execute("insert into message_deliveries (message_id, guest_id) values (%s, gen_random_uuid())", (message,))
    conn.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")


def psql_figures(settings, *variables: str) -> tuple[subprocess.CompletedProcess, dict]:
    command = ["psql", "-X", "-f", str(PSQL_SCRIPT)]
    for variable in variables:
        command += ["-v", variable]
    result = subprocess.run(
        command, env=settings.libpq_env() | {"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60
    )
    figures = dict(re.findall(r"^(\w+) +(.*?)\s*$", result.stdout, flags=re.M))
    return result, figures


def test_check_psql_script_and_models_show_one_definition_beside_the_runbook_figure(modeled_app_db, modeled_db):
    issue_10_world(modeled_db)
    original = modeled_db.execute(ORIGINAL_DAILY_QUERY).fetchone()
    before = integrity.check(modeled_db)  # the figures now; the categories of the template's build (none)
    assert (before.total_deliveries, before.inconsistent_deliveries) == (13, 6)
    assert before.categories_total_deliveries == 0 and before.categorized_deliveries == 0
    w.count_categories(modeled_db)  # what each dbt build does

    report = integrity.check(modeled_db)
    marts = modeled_db.execute(
        "select total_deliveries, inconsistent_deliveries, inconsistency_percentage, health_status, "
        "runbook_total_deliveries, runbook_inconsistent_deliveries, runbook_inconsistency_percentage "
        "from linkage.delivery_integrity"
    ).fetchone()
    result, script = psql_figures(modeled_app_db)

    # the project's figure: every delivery counts, in exactly one category; removed guests' are not defects
    assert (report.total_deliveries, report.inconsistent_deliveries) == (13, 6)
    assert report.inconsistency_percentage == Decimal("46.15") and report.status == "critical"
    assert {c.name: c.deliveries for c in report.categories if c.deliveries} == {
        "linked_to_guest_user": 2,
        "linkable_null": 6,
        "null_guest_not_linked": 1,
        "null_guest_removed": 1,
        "null_without_guest": 3,
    }
    assert report.categorized_deliveries == report.categories_total_deliveries == report.total_deliveries
    assert report.categories_counted_at is not None
    # the runbook's figure is the original script's, on the same data, shown with why it differs, unjudged
    assert original == (10, 7, Decimal("70.00"), "NEEDS_ATTENTION")
    assert (
        report.runbook_total_deliveries,
        report.runbook_inconsistent_deliveries,
        report.runbook_inconsistency_percentage,
    ) == original[:3]
    assert "counts as inconsistent the 1 deliveries" in report.runbook_difference
    assert "the 3 deliveries without a guest" in report.runbook_difference
    assert "runbook_alert_status" not in report.as_dict() and "statuses_agree" not in report.as_dict()
    # one definition: the mart and the psql script show the check's row
    assert marts == (13, 6, Decimal("46.15"), "critical", 10, 7, Decimal("70.00"))
    assert result.returncode == 0, result.stderr
    assert (script["total_deliveries"], script["inconsistent_deliveries"], script["check_status"]) == (
        "13",
        "6",
        "critical",
    )
    assert (script["linkable_null"], script["null_without_guest"], script["runbook_inconsistency_percentage"]) == (
        "6",
        "3",
        "70.00",
    )
    assert "WARNING:  delivery integrity critical: 6 of 13" in result.stderr
    # the operations read the same row (macro linkage_integrity_figures)
    operation = dbt(modeled_app_db, "run-operation", "linkage_integrity_figures")
    operation.check()
    assert (
        "delivery integrity critical: 6 of 13 deliveries linkable but NULL (46.15%); "
        "runbook's figure 7 of 10 (70.00%)" in operation.output
    )


def test_a_threshold_given_to_the_check_holds_for_its_transaction_only(modeled_app_db, modeled_db):
    event = w.event(modeled_db)
    message = w.message(modeled_db, event)
    modeled_db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    w.deliver(modeled_db, message, w.guest(modeled_db, event, w.user(modeled_db)))
    for _ in range(39):
        w.deliver(modeled_db, message, w.guest(modeled_db, event))
    modeled_db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")  # 1 of 40: 2.50 %

    assert integrity.check(modeled_db).health_status == "critical"  # the model's threshold, 1.0
    relaxed = integrity.check(modeled_db, critical_pct=5.0)
    assert (relaxed.health_status, relaxed.critical_pct, relaxed.exit_status) == ("warning", 5.0, 1)
    assert modeled_db.execute("select health_status from linkage.delivery_integrity").fetchone()[0] == "critical"
    _, script = psql_figures(modeled_app_db, "critical_pct=5")
    assert (script["health_status"], script["critical_pct"]) == ("warning", "5.00")


def test_the_check_and_the_script_say_how_to_build_missing_models(app_db, db):
    with pytest.raises(integrity.ModelsNotBuiltError, match=r"dbt run"):
        integrity.check(db)
    result, _ = psql_figures(app_db)
    assert result.returncode == 3
    assert "metric models are not built" in result.stderr and "dbt run" in result.stderr


HOURLY = "select total_deliveries, inconsistent_deliveries from linkage.delivery_integrity"
CATEGORIZED = "select total_deliveries, inconsistent_deliveries from linkage.int_delivery_categories__counted"
RUNBOOK_QUERY = (project.project_dir() / "bench" / "runbook_daily_query.sql").read_text()
DEFECTS = "select delivery_id, delivery_category from linkage.int_message_deliveries__defective order by 1"
CATEGORIZED_DEFECTS = (
    "select delivery_id, delivery_category from linkage.int_message_deliveries__categorized "
    "where delivery_category in (select delivery_category from linkage.delivery_categories where is_defect) order by 1"
)
AWAITING = (
    "select count(*) from linkage.int_message_deliveries__categorized"
    " where delivery_category = 'linkable_null_awaiting_sweeper'"
)


def test_hourly_figures_equal_the_runbook_query_after_links_unlinks_removals_and_the_backfill(modeled_db):
    """The hourly figures (the total from an index, the defects through the partial index on
    deliveries without a user) against the runbook's daily query and the categories counted over
    every delivery, on the same data, after each kind of change."""
    synthetic.generate(modeled_db, synthetic.WorldShape(deliveries=4000, late_link_share=0.3, seed=5))
    event = w.event(modeled_db)
    other_event = w.event(modeled_db)
    modeled_db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    stray = w.deliver(modeled_db, w.message(modeled_db, other_event), w.guest(modeled_db, event, w.user(modeled_db)))
    modeled_db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    modeled_db.execute("analyze")

    def agree(step: str, awaiting: int = 0) -> tuple[int, int]:
        """The runbook's query also counts the deliveries awaiting the sweeper (not defects, yet)."""
        hourly = modeled_db.execute(HOURLY).fetchone()
        cursor = modeled_db.execute(RUNBOOK_QUERY)
        runbook = dict(zip([c.name for c in cursor.description], cursor.fetchone(), strict=True))
        assert modeled_db.execute(AWAITING).fetchone()[0] == awaiting, step
        runbook_figures = (runbook["total_deliveries"], runbook["inconsistent_deliveries"])
        assert (hourly[0], hourly[1] + awaiting) == runbook_figures, step
        assert hourly == modeled_db.execute(CATEGORIZED).fetchone(), step
        assert modeled_db.execute(DEFECTS).fetchall() == modeled_db.execute(CATEGORIZED_DEFECTS).fetchall(), step
        return hourly

    total, defects = agree("the generated history, and a delivery of another event's message (no defect)")
    assert defects > 0 and stray not in {row[0] for row in modeled_db.execute(DEFECTS)}

    unlinked_guests = [
        row[0]
        for row in modeled_db.execute(
            "select id from event_guests where user_id is null and removed_at is null order by id limit 5"
        )
    ]
    for guest_id in unlinked_guests:  # the linkage queues them; the sweeper links their deliveries
        modeled_db.execute("update event_guests set user_id = %s where id = %s", (w.user(modeled_db), guest_id))
    queued = modeled_db.execute(
        "select count(*) from message_deliveries where user_id is null and guest_id = any(%s)", (unlinked_guests,)
    ).fetchone()[0]
    assert queued > 0
    assert agree("guests linked, the sweeper not yet run", awaiting=queued)[1] == defects
    w.sweep(modeled_db)
    agree("guests linked and swept")

    modeled_db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    late = w.guest(modeled_db, event)
    for _ in range(3):
        w.deliver(modeled_db, w.message(modeled_db, event), late)
    modeled_db.execute("update event_guests set user_id = %s where id = %s", (w.user(modeled_db), late))
    modeled_db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    assert agree("a guest linked while the triggers were off")[1] == defects + 3

    modeled_db.execute("update event_guests set user_id = null where id = %s", (late,))
    assert agree("that guest unlinked")[1] == defects
    modeled_db.execute("update event_guests set user_id = %s where id = %s", (w.user(modeled_db), late))
    w.sweep(modeled_db)
    modeled_db.execute(
        "update event_guests set removed_at = now() where id in (select guest_id from message_deliveries"
        " where user_id is null and guest_id is not null and guest_id <> %s limit 2)",
        (late,),
    )
    agree("guests removed")

    modeled_db.execute("select * from delivery_linkage.backfill_deliveries_batch(null, 100000, false)")
    assert agree("the historical backfill") == (total + 3, 0)


def test_missing_flag_rows_and_audit_failures_warn_alike_and_removed_guests_never_do(modeled_app_db, modeled_db):
    """A deleted flag row and an audit write failure make `linkage check` a warning and warn in `dbt test`;
    removed guests' NULL deliveries, which the runbook's figure counts, leave the check healthy (and `dbt
    test` silent: test_dbt_models_and_tests.py)."""
    event = w.event(modeled_db)
    message = w.message(modeled_db, event)
    modeled_db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    for _ in range(3):  # removed guests' NULL deliveries: defects for the original script only
        w.deliver(modeled_db, message, w.guest(modeled_db, event, w.user(modeled_db), removed=True))
    for _ in range(7):
        person = w.user(modeled_db)
        w.deliver(modeled_db, message, w.guest(modeled_db, event, person), user_id=person)
    modeled_db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    w.count_categories(modeled_db)  # what each dbt build does
    no_problem = integrity.check(modeled_db)
    assert (no_problem.health_status, no_problem.status, no_problem.runbook_inconsistent_deliveries) == (
        "healthy",
        "healthy",
        3,
    )

    modeled_db.execute("delete from feature_flags where flag_name = 'LINK_USER_BY_PHONE'")
    modeled_db.execute(
        "insert into delivery_linkage.audit_write_failures (table_name, error, payload) "
        "values ('message_deliveries', 'null value in column \"event_id\"', '{\"outcome\": \"no_match\"}')"
    )
    # the staging view was built while the table did not exist (an empty view): rebuild it and what
    # reads it (replacing a view drops its dependents)
    rebuilt = dbt(
        modeled_app_db,
        "run",
        "--vars",
        "{linkage_deploy: false}",
        "--select",
        "stg_linkage_private__audit_write_failures+",
    )
    rebuilt.check()

    report = integrity.check(modeled_db)
    assert (report.health_status, report.status, report.exit_status) == ("healthy", "warning", 1)
    assert report.missing_feature_flags == ["LINK_USER_BY_PHONE"]
    assert report.audit_write_failures == 1 and report.last_audit_write_failure_at is not None

    result = dbt(
        modeled_app_db,
        "test",
        "--vars",
        "{linkage_deploy: false}",  # the deploy would restore the flag row
        "--select",
        "assert_linkage_feature_flags_present assert_no_audit_write_failures",
    )
    assert result.returncode == 0, result.output[-3000:]  # warnings, as the check's verdict
    assert re.search(r"WARN 1 assert_linkage_feature_flags_present", result.output), result.output[-3000:]
    assert re.search(r"WARN 1 assert_no_audit_write_failures", result.output)
