"""The invariants checked at quiescence, through the runbook's interfaces only.

1. linkable_null: no delivery names an active guest linked to a user, of its message's event, and still
   has user_id NULL (a guest of another event never links: issue 15), unless the linkage audited it
   `skipped / feature_disabled` (linking was off when it was inserted or its guest linked: nothing
   links it later by design); those are counted apart (linkable_null_while_linking_off).
2. link_without_audit: every delivery whose user the linkage wrote has a `user_link_audit` row with
   outcome `linked` naming that user (table `message_deliveries` or `message_deliveries_backfill`).
   Links the app wrote itself are not the linkage's: the world's history and the app's upserts that
   passed a user_id are listed in `concurrency_bench.app_written_links` (message, guest, user).
3. dangling_user: no delivery and no guest points at a user that does not exist.

Without the linkage (the control), linkable_null counts what the linkage exists to prevent; the
other two stay 0 there (no link is written but the app's, and the foreign keys hold).
"""

from __future__ import annotations

import psycopg

from delivery_linkage_devtools.concurrency.world import BOOKKEEPING_SCHEMA

AUDITED_TABLES = ("message_deliveries", "message_deliveries_backfill")

LINKABLE_NULL_ANY = """
    select d.id, d.guest_id, g.user_id
    from public.message_deliveries as d
    join public.event_guests as g on g.id = d.guest_id
    left join public.messages as m on m.id = d.message_id
    where d.user_id is null and g.user_id is not null and g.removed_at is null
      and g.event_id = coalesce(m.event_id, g.event_id)
"""
# the deliveries the linkage skipped because LINK_USER_BY_PHONE was off
SKIPPED_WHILE_OFF = """
    select audit.record_id from public.user_link_audit as audit
    where audit.outcome = 'skipped' and audit.reason = 'feature_disabled'
"""
LINKABLE_NULL = f"""
    select v.id, v.guest_id, v.user_id from ({LINKABLE_NULL_ANY}) as v
    where not exists (select from ({SKIPPED_WHILE_OFF}) as skipped where skipped.record_id = v.id)
"""
LINKABLE_NULL_WHILE_OFF = f"""
    select v.id, v.guest_id, v.user_id from ({LINKABLE_NULL_ANY}) as v
    where exists (select from ({SKIPPED_WHILE_OFF}) as skipped where skipped.record_id = v.id)
"""

LINK_WITHOUT_AUDIT = f"""
    select d.id, d.guest_id, d.user_id
    from public.message_deliveries as d
    where d.user_id is not null
      and not exists (
          select 1 from {BOOKKEEPING_SCHEMA}.app_written_links as app
          where app.message_id = d.message_id
            and app.guest_id is not distinct from d.guest_id
            and app.user_id = d.user_id
      )
      and not exists (
          select 1 from public.user_link_audit as audit
          where audit.record_id = d.id
            and audit.outcome = 'linked'
            and audit.linked_user_id = d.user_id
            and audit.table_name = any(%(tables)s)
      )
"""

DANGLING_USER = """
    select 'message_deliveries' as table_name, d.id, d.user_id
    from public.message_deliveries as d
    where d.user_id is not null and not exists (select 1 from public.users as u where u.id = d.user_id)
    union all
    select 'event_guests', g.id, g.user_id
    from public.event_guests as g
    where g.user_id is not null and not exists (select 1 from public.users as u where u.id = g.user_id)
"""

CHECKS = {
    "linkable_null": LINKABLE_NULL,
    "link_without_audit": LINK_WITHOUT_AUDIT,
    "dangling_user": DANGLING_USER,
}

# not an invariant: of the links without their audit row, those audited as `linked` to that user under
# another table_name (today's message_deliveries_app_update: the app's upsert copied the linkage's
# decision for its proposed row onto a delivery linked to another user), which the runbook's queries
# and rollback_links_since do not count
AUDITED_ELSEWHERE = f"""
    select v.id, v.guest_id, v.user_id
    from ({LINK_WITHOUT_AUDIT}) as v
    where exists (
        select 1 from public.user_link_audit as audit
        where audit.record_id = v.id and audit.outcome = 'linked' and audit.linked_user_id = v.user_id
    )
"""


def record_app_links(conn: psycopg.Connection, links: list[tuple], source: str = "run") -> None:
    """Tells the checker which (message, guest, user) links the app wrote itself."""
    if not links:
        return
    with conn.cursor() as cursor:
        with cursor.copy(
            f"copy {BOOKKEEPING_SCHEMA}.app_written_links (message_id, guest_id, user_id, source) from stdin"
        ) as copy:
            for message, guest, user in links:
                copy.write_row((message, guest, user, source))


def ensure_bookkeeping(conn: psycopg.Connection) -> None:
    """The bookkeeping table, for a database the benchmark did not build (the checker's own tests)."""
    conn.execute(f"create schema if not exists {BOOKKEEPING_SCHEMA}")
    conn.execute(
        f"create table if not exists {BOOKKEEPING_SCHEMA}.app_written_links "
        "(message_id uuid not null, guest_id uuid, user_id uuid not null, source text not null)"
    )


def check(conn: psycopg.Connection, examples: int = 5) -> dict:
    """Violations of each invariant: {'<name>': count, 'examples': {'<name>': [rows…]}}."""
    result: dict = {"examples": {}}
    for name, query in CHECKS.items():
        rows = conn.execute(query, {"tables": list(AUDITED_TABLES)}).fetchall()
        result[name] = len(rows)
        result["examples"][name] = [[str(value) for value in row] for row in rows[:examples]]
    result["total"] = sum(result[name] for name in CHECKS)
    result["link_without_audit_audited_elsewhere"] = len(
        conn.execute(AUDITED_ELSEWHERE, {"tables": list(AUDITED_TABLES)}).fetchall()
    )
    result["linkable_null_while_linking_off"] = len(conn.execute(LINKABLE_NULL_WHILE_OFF).fetchall())
    return result
