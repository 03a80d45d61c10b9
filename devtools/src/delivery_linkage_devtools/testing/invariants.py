"""The invariant queries, written once: what the test suites assert and the developer tools count.

The linkable-but-NULL delivery (the runbook's defect, its "NULL user_id deliveries with linked guests"):
no user, although it names a guest that is active, linked to a user and of its message's event (a
message with no event, or none, cannot tell). It is the delivery categories `linkable_null` and
`linkable_null_awaiting_sweeper` of macros/metrics/linkage_delivery_categories.sql (the dbt models'
one rule); tests/test_delivery_categories.py checks, on random worlds with every category, that these
queries find exactly the deliveries the models put in those categories. The runbook's daily query that
the benchmark times (bench/runbook_daily_query.sql) keeps its own text: it is the reference measured.

LINKABLE_NULL_FROM and LINKABLE_NULL_WHERE are the pieces (the delivery `d`, its guest `g`, its message
`m`), for the queries that narrow it (the concurrency harness's checks, by case and by audit); every
query here names the app's tables in schema public.
"""

from __future__ import annotations

import psycopg

LINKABLE_NULL_FROM = """
    from public.message_deliveries as d
    join public.event_guests as g on g.id = d.guest_id
    left join public.messages as m on m.id = d.message_id
"""
LINKABLE_NULL_WHERE = """
    d.user_id is null and g.user_id is not null and g.removed_at is null
    and (m.event_id is null or m.event_id = g.event_id)
"""

# the linkable-but-NULL deliveries: (delivery, its guest, the guest's user)
LINKABLE_NULL = f"select d.id, d.guest_id, g.user_id {LINKABLE_NULL_FROM} where {LINKABLE_NULL_WHERE}"

# of them, those no guest_link_queue entry explains (the sweeper has not been told to look at their
# guest): the category linkable_null alone while every entry is younger than the sweep window
UNEXPLAINED_LINKABLE_NULL = f"""
    {LINKABLE_NULL}
    and not exists (select from delivery_linkage.guest_link_queue as queue where queue.guest_id = g.id)
"""


def linkable_null(conn: psycopg.Connection) -> set[str]:
    """The ids (as text) of the deliveries linkable but NULL."""
    return {str(row[0]) for row in conn.execute(LINKABLE_NULL)}


def linkable_null_count(conn: psycopg.Connection) -> int:
    """How many deliveries are linkable but NULL: what must never be left once the sweeper ran."""
    return conn.execute(f"select count(*) from ({LINKABLE_NULL}) as linkable").fetchone()[0]


def unexplained_linkable_null(conn: psycopg.Connection) -> set[str]:
    """The ids (as text) of the linkable-but-NULL deliveries that no queue entry explains."""
    return {str(row[0]) for row in conn.execute(UNEXPLAINED_LINKABLE_NULL)}


def unexplained_linkable_null_count(conn: psycopg.Connection) -> int:
    """How many linkable-but-NULL deliveries no queue entry explains: none, even before the sweeper ran."""
    return conn.execute(f"select count(*) from ({UNEXPLAINED_LINKABLE_NULL}) as unexplained").fetchone()[0]


def dangling_users(conn: psycopg.Connection) -> int:
    """Deliveries pointing at a user that does not exist."""
    return conn.execute(
        "select count(*) from public.message_deliveries as d "
        "where d.user_id is not null and not exists (select 1 from public.users as u where u.id = d.user_id)"
    ).fetchone()[0]


def audit_disagreements(conn: psycopg.Connection, app_set=(), exempt=()) -> list[tuple]:
    """Deliveries whose audit does not tell their story: a linked delivery needs exactly one 'linked' row
    naming its user, an unlinked one none. `app_set`: deliveries whose user came from the app (not
    attempts: no audit row of any kind); `exempt`: deliveries not checked."""
    return conn.execute(
        """
        with audit as (
            select record_id,
                   count(*) filter (where outcome = 'linked') as linked_rows,
                   count(*) as all_rows,
                   array_agg(linked_user_id) filter (where outcome = 'linked') as users
            from public.user_link_audit group by record_id
        )
        select d.id, d.user_id, a.linked_rows, a.all_rows, a.users
        from public.message_deliveries as d
        left join audit as a on a.record_id = d.id
        where not (d.id = any(%s::uuid[])) and case
            when d.id = any(%s::uuid[]) then a.all_rows is not null
            when d.user_id is null then coalesce(a.linked_rows, 0) <> 0
            else a.linked_rows is distinct from 1 or a.users[1] is distinct from d.user_id
        end
        """,
        (list(exempt), list(app_set)),
    ).fetchall()


def unaudited_attempts(conn: psycopg.Connection, app_set=()) -> int:
    """Deliveries the linkage never audited (every insert with no user from the app is an attempt)."""
    return conn.execute(
        """
        select count(*) from public.message_deliveries as d
        where not (d.id = any(%s::uuid[]))
          and not exists (
            select 1 from public.user_link_audit as a
            where a.record_id = d.id and a.table_name = 'message_deliveries'
          )
        """,
        (list(app_set),),
    ).fetchone()[0]


def latest_audit_disagreements(conn: psycopg.Connection, delivery_ids) -> list[tuple]:
    """Among delivery_ids: deliveries whose latest audit row does not name their current user (a linked
    delivery's latest row is 'linked' with its user; an unlinked one's latest row is not 'linked').
    Latest in the order the rows were written: the audit group's number, then the row in it. (created_at
    is the writing transaction's start, so a transaction that began earlier but wrote later, after
    waiting for the delivery's row lock, would sort first; writes to one delivery are serialized by
    that row lock, and the group numbers are drawn while it is held.)"""
    return conn.execute(
        """
        select d.id, d.user_id, latest.outcome, latest.linked_user_id
        from public.message_deliveries as d
        left join lateral (
            select a.outcome, a.linked_user_id from public.user_link_audit as a
            where a.record_id = d.id and a.audit_source = 'linkage'
            order by split_part(a.id, '.', 1)::bigint desc, split_part(a.id, '.', 2)::integer desc
            limit 1
        ) as latest on true
        where d.id = any(%s::uuid[])
          and case when d.user_id is null then latest.outcome is not distinct from 'linked'
                   else latest.outcome is distinct from 'linked' or latest.linked_user_id is distinct from d.user_id end
        """,
        (list(delivery_ids),),
    ).fetchall()
