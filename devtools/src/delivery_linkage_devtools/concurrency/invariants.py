"""The invariants checked at quiescence, through the runbook's interfaces only.

1. linkable_null: no delivery names an active guest linked to a user, of the same event as its
   message (a guest of another event never gives its user: issue 15, hole 7), and still has user_id NULL
   (the one query of delivery_linkage_devtools.testing.invariants, which the dbt models agree with),
   unless the linkage audited it `skipped / feature_disabled` (linking was off when it was inserted or
   its guest linked: nothing links it later by design but the historical backfill); those are counted
   apart (linkable_null_while_linking_off).
2. link_without_audit: every delivery whose user the linkage wrote has a `user_link_audit` row with
   outcome `linked` naming that user (table `message_deliveries` or `message_deliveries_backfill`; or
   `message_deliveries_app_update` when the app's upsert carried the user its row trigger chose for the
   proposed row and the guest changed before the update: the app's write, audited as such).
   Links the app wrote itself are not the linkage's: the world's history and the app's upserts that
   passed a user_id are listed in `concurrency_bench.app_written_links` (message, guest, user).
3. dangling_user: no delivery and no guest points at a user that does not exist.

Without the linkage (the control), linkable_null counts what the linkage exists to prevent; the
other two stay 0 there (no link is written but the app's, and the foreign keys hold).

Every query takes the parameters `messages` (uuid[]: only the deliveries of these messages and the
guests of their events; NULL: everything) and `since` (timestamptz: only audit rows written by
transactions that started then or later, which lets the audit view use its time index; NULL: all).
`check` runs them over the whole database (the concurrency benchmark); `check_case` runs them and the
stricter checks below over one case's rows (the interleaving checker):

- insert_without_audit: a delivery the app inserted with no user_id has at least one audit row;
- link_not_latest_audit: the latest audit row (in write order) of a delivery the linkage linked says
  `linked` with the user it has;
- cross_event_link: no delivery was linked (not by the app) to a user through a guest of another event
  than its message's.
With `skipped_explains` (a case where the operator switched LINK_USER_BY_PHONE off), linkable_null
leaves out deliveries whose latest audit row is `skipped`: the linkage was told not to link them.
"""

from __future__ import annotations

import json

import psycopg

from delivery_linkage_devtools.concurrency.world import BOOKKEEPING_SCHEMA
from delivery_linkage_devtools.testing import invariants as testing_invariants

# the audit's names for a delivery getting a user: the linkage's links, and a user the app's own write
# carried that the rules did not give then (an upsert's conflict path copies its proposed row's user,
# chosen before the guest changed while the upsert waited for the row)
LINKAGE_TABLES = ("message_deliveries", "message_deliveries_backfill")
AUDITED_TABLES = (*LINKAGE_TABLES, "message_deliveries_app_update")

IN_SCOPE = "(%(messages)s::uuid[] is null or d.message_id = any(%(messages)s::uuid[]))"
AUDIT_SINCE = "(%(since)s::timestamptz is null or audit.created_at >= %(since)s::timestamptz)"

# the order the audit's rows were written in: the linkage's ids are '<group>.<row>' (the group an
# identity), anything else sorts by time
AUDIT_WRITE_ORDER = """
    case when audit.id::text ~ '^[0-9]+([.][0-9]+)?$'
        then split_part(audit.id::text, '.', 1)::bigint end desc nulls last,
    case when audit.id::text ~ '^[0-9]+[.][0-9]+$'
        then split_part(audit.id::text, '.', 2)::integer end desc nulls last,
    audit.created_at desc
"""

# the latest audit row of delivery d, as `latest`: every delivery's latest row in one pass over the audit,
# joined by hash (a lateral subquery per delivery would read the whole audit view once per delivery: its
# rows are unnested from the compact store, so no index finds one delivery's rows)
LATEST_AUDIT = f"""
    left join (
        select distinct on (audit.record_id)
            audit.record_id, audit.outcome, audit.reason, audit.table_name, audit.linked_user_id
        from public.user_link_audit as audit
        where {AUDIT_SINCE}
        order by audit.record_id, {AUDIT_WRITE_ORDER}
    ) as latest on latest.record_id = d.id
"""

APP_WROTE_THIS_LINK = f"""
    exists (
        select 1 from {BOOKKEEPING_SCHEMA}.app_written_links as app
        where app.message_id = d.message_id
          and app.guest_id is not distinct from d.guest_id
          and app.user_id = d.user_id
    )
"""

# the one linkable-but-NULL query (delivery_linkage_devtools.testing.invariants), over one case's rows
LINKABLE_NULL = f"{testing_invariants.LINKABLE_NULL} and {IN_SCOPE}"

# the deliveries the linkage skipped because LINK_USER_BY_PHONE was off
SKIPPED_WHILE_OFF = """
    select audit.record_id from public.user_link_audit as audit
    where audit.outcome = 'skipped' and audit.reason = 'feature_disabled'
"""
LINKABLE_NULL_LINKING_ON = f"""
    select v.id, v.guest_id, v.user_id from ({LINKABLE_NULL}) as v
    where not exists (select from ({SKIPPED_WHILE_OFF}) as skipped where skipped.record_id = v.id)
"""
LINKABLE_NULL_WHILE_OFF = f"""
    select v.id, v.guest_id, v.user_id from ({LINKABLE_NULL}) as v
    where exists (select from ({SKIPPED_WHILE_OFF}) as skipped where skipped.record_id = v.id)
"""

LINKABLE_NULL_UNEXPLAINED = f"""
    select d.id, d.guest_id, g.user_id
    {testing_invariants.LINKABLE_NULL_FROM}
    {LATEST_AUDIT}
    where {testing_invariants.LINKABLE_NULL_WHERE}
      and {IN_SCOPE}
      and not (%(skipped_explains)s and latest.outcome is not distinct from 'skipped')
"""

LINK_WITHOUT_AUDIT = f"""
    select d.id, d.guest_id, d.user_id
    from public.message_deliveries as d
    where d.user_id is not null
      and {IN_SCOPE}
      and not {APP_WROTE_THIS_LINK}
      and not exists (
          select 1 from public.user_link_audit as audit
          where audit.record_id = d.id
            and audit.outcome = 'linked'
            and audit.linked_user_id = d.user_id
            and audit.table_name = any(%(tables)s)
            and {AUDIT_SINCE}
      )
"""

DANGLING_USER = f"""
    select 'message_deliveries' as table_name, d.id, d.user_id
    from public.message_deliveries as d
    where d.user_id is not null and {IN_SCOPE}
      and not exists (select 1 from public.users as u where u.id = d.user_id)
    union all
    select 'event_guests', g.id, g.user_id
    from public.event_guests as g
    where g.user_id is not null
      and (%(messages)s::uuid[] is null
           or g.event_id = any(array(
               select m.event_id from public.messages as m where m.id = any(%(messages)s::uuid[]))))
      and not exists (select 1 from public.users as u where u.id = g.user_id)
"""

INSERT_WITHOUT_AUDIT = f"""
    select d.id, d.guest_id, d.user_id
    from public.message_deliveries as d
    where {IN_SCOPE}
      and not exists (
          select 1 from {BOOKKEEPING_SCHEMA}.app_written_links as app
          where app.message_id = d.message_id and app.guest_id is not distinct from d.guest_id
      )
      and not exists (
          select 1 from public.user_link_audit as audit where audit.record_id = d.id and {AUDIT_SINCE}
      )
"""

LINK_NOT_LATEST_AUDIT = f"""
    select d.id, d.user_id,
        latest.outcome || coalesce(' ' || latest.reason, '') || coalesce(' ' || latest.linked_user_id, '')
    from public.message_deliveries as d
    {LATEST_AUDIT}
    where d.user_id is not null and {IN_SCOPE}
      and not {APP_WROTE_THIS_LINK}
      and not (latest.outcome is not distinct from 'linked' and latest.linked_user_id is not distinct from d.user_id)
"""

CROSS_EVENT_LINK = f"""
    select d.id, d.guest_id, d.user_id
    from public.message_deliveries as d
    join public.event_guests as g on g.id = d.guest_id
    join public.messages as m on m.id = d.message_id
    where d.user_id is not null and m.event_id <> g.event_id and {IN_SCOPE}
      and not {APP_WROTE_THIS_LINK}
"""

CHECKS = {
    "linkable_null": LINKABLE_NULL_LINKING_ON,
    "link_without_audit": LINK_WITHOUT_AUDIT,
    "dangling_user": DANGLING_USER,
}

CASE_CHECKS = {
    "linkable_null": LINKABLE_NULL_UNEXPLAINED,
    "insert_without_audit": INSERT_WITHOUT_AUDIT,
    "link_without_audit": LINK_WITHOUT_AUDIT,
    "link_not_latest_audit": LINK_NOT_LATEST_AUDIT,
    "cross_event_link": CROSS_EVENT_LINK,
    "dangling_user": DANGLING_USER,
}

# not an invariant: the links audited only as the app's write (message_deliveries_app_update: an
# upsert's conflict path copied the user its row trigger chose for the proposed row, and the guest
# changed meanwhile), which the runbook's queries and rollback_links_since do not count as the linkage's
AUDITED_ELSEWHERE = f"""
    select v.id, v.guest_id, v.user_id
    from ({LINK_WITHOUT_AUDIT.replace("%(tables)s", "%(linkage_tables)s")}) as v
"""

WHOLE_DATABASE = {
    "messages": None,
    "since": None,
    "tables": list(AUDITED_TABLES),
    "linkage_tables": list(LINKAGE_TABLES),
    "skipped_explains": False,
}


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
    conn.execute(
        "create index if not exists app_written_links_message_id_idx "
        f"on {BOOKKEEPING_SCHEMA}.app_written_links (message_id)"
    )


def check(conn: psycopg.Connection, examples: int = 5) -> dict:
    """Violations of each invariant: {'<name>': count, 'examples': {'<name>': [rows…]}}."""
    result: dict = {"examples": {}}
    for name, query in CHECKS.items():
        rows = conn.execute(query, WHOLE_DATABASE).fetchall()
        result[name] = len(rows)
        result["examples"][name] = [[str(value) for value in row] for row in rows[:examples]]
    result["total"] = sum(result[name] for name in CHECKS)
    result["link_without_audit_audited_elsewhere"] = len(conn.execute(AUDITED_ELSEWHERE, WHOLE_DATABASE).fetchall())
    result["linkable_null_while_linking_off"] = len(conn.execute(LINKABLE_NULL_WHILE_OFF, WHOLE_DATABASE).fetchall())
    return result


# every case check in one statement (one round trip per case): (check, the row as JSON)
CASE_CHECKS_AT_ONCE = "\nunion all\n".join(
    f"select '{name}' as check_name, row_to_json(violation)::text from ({query}) as violation"
    for name, query in CASE_CHECKS.items()
)


def check_case(conn: psycopg.Connection, messages: list, since, skipped_explains: bool = False) -> dict[str, list]:
    """The violations among one case's rows (its messages' deliveries, their events' guests), by check:
    {'<name>': [rows as lists of str]}; checks without a violation are left out."""
    params = {**WHOLE_DATABASE, "messages": messages, "since": since, "skipped_explains": skipped_explains}
    found: dict[str, list] = {}
    for name, row in conn.execute(CASE_CHECKS_AT_ONCE, params).fetchall():
        found.setdefault(name, []).append(["" if value is None else str(value) for value in json.loads(row).values()])
    return found


# --- the linkage run's own checks ----------------------------------------------------------------------
# Stricter than `check`, and true only where the linkage runs (in the control they fail by design):
# over the deliveries of the run's messages (every message but the world's history, which was loaded
# before the linkage was deployed and never audited):
# - insert_without_audit, link_not_latest_audit, cross_event_link: the case checks above;
# - link_to_a_user_no_guest_had: a delivery the linkage linked names a user its guest had at some
#   point (the world's or one the plan linked it to), or, naming no guest, a user some guest of the
#   message's event had while it had the delivery's phone at some point, or a user whose own phone is
#   one the delivery had (the users-phone fallback; the app's upserts of one (message, guest) from
#   several connections change its phone, and a link made by one phone is kept when the phone changes);
# and over the whole database:
# - notes_left: the linkage's per-transaction notes are gone once every transaction has ended;
# - outside_the_vocabulary: every audit row's table_name, outcome and reason is in audit_vocabulary().

GUEST_HISTORY = f"{BOOKKEEPING_SCHEMA}.guest_history"
DELIVERY_PHONES = f"{BOOKKEEPING_SCHEMA}.delivery_phones"  # the phones the plans' upserts give a delivery

LINK_TO_A_USER_NO_GUEST_HAD = f"""
    select d.id, d.guest_id, d.user_id, d.phone_number
    from public.message_deliveries as d
    join public.messages as m on m.id = d.message_id
    where d.user_id is not null and {IN_SCOPE}
      and not {APP_WROTE_THIS_LINK}
      and not exists (
          select from {GUEST_HISTORY} as had where had.guest_id = d.guest_id and had.user_id = d.user_id
      )
      and not exists (
          select from {GUEST_HISTORY} as had
          join {GUEST_HISTORY} as phone on phone.guest_id = had.guest_id
          where d.guest_id is null and had.event_id = m.event_id and had.user_id = d.user_id
            and public.normalize_phone(phone.phone) = public.normalize_phone(d.phone_number)
      )
      and not exists (
          select from public.users as u
          where u.id = d.user_id and (
              public.normalize_phone(u.phone) = public.normalize_phone(d.phone_number)
              or exists (
                  select from {DELIVERY_PHONES} as had
                  where had.message_id = d.message_id and had.guest_id is not distinct from d.guest_id
                    and public.normalize_phone(had.phone) = public.normalize_phone(u.phone)
              )
          )
      )
"""

NOTES_LEFT = """
    select 'delivery_linkage.app_linked_deliveries', count(*) from delivery_linkage.app_linked_deliveries
    having count(*) > 0
    union all
    select 'delivery_linkage.own_write_transactions', count(*) from delivery_linkage.own_write_transactions
    having count(*) > 0
"""

OUTSIDE_THE_VOCABULARY = """
    select audit.table_name, audit.outcome, audit.reason, count(*)
    from public.user_link_audit as audit
    where audit.audit_source = 'linkage' and not (
        audit.table_name in (select v.value from delivery_linkage.audit_vocabulary() as v where v.kind = 'table_name')
        and audit.outcome in (select v.value from delivery_linkage.audit_vocabulary() as v where v.kind = 'outcome')
        and audit.reason in (select v.value from delivery_linkage.audit_vocabulary() as v where v.kind = 'reason')
    )
    group by 1, 2, 3
"""

LINKAGE_RUN_CASE_CHECKS = ("insert_without_audit", "link_not_latest_audit", "cross_event_link")


def record_guest_history(conn: psycopg.Connection, world, plans) -> None:
    """Every user and every phone each guest of the world has at some point, the world's and those the
    plans give it (links, relinks, bulk links, sign-ups; phone edits), and every phone the plans' upserts
    give a delivery, for link_to_a_user_no_guest_had."""
    event_of = {guest: event for event, guests in world.guests_by_event.items() for guest in guests}
    users = {(guest, user) for guest, user in world.guest_user.items() if user is not None}
    phones = set(world.guest_phone.items())
    delivery_phones = set()
    for operation in (op for ops in plans for op in ops):
        if operation.kind in ("link", "relink"):
            users.add(operation.params[:2])
        elif operation.kind == "signup_link":
            users.add((operation.params[1], operation.params[0]))
        elif operation.kind == "bulk_link":
            users.update(zip(*operation.params, strict=True))
        elif operation.kind == "phone_edit":
            phones.add(operation.params)
        elif operation.kind in ("upsert", "upsert_again"):
            delivery_phones.add(operation.params[:3])
    conn.execute(
        f"create table if not exists {GUEST_HISTORY} (guest_id uuid not null, event_id uuid not null, "
        "user_id uuid, phone text)"
    )
    with conn.cursor() as cursor:
        with cursor.copy(f"copy {GUEST_HISTORY} (guest_id, event_id, user_id, phone) from stdin") as copy:
            for guest, user in users:
                copy.write_row((guest, event_of[guest], user, None))
            for guest, phone in phones:
                copy.write_row((guest, event_of[guest], None, phone))
    conn.execute(f"create index if not exists guest_history_guest_id_idx on {GUEST_HISTORY} (guest_id)")
    conn.execute(f"create table if not exists {DELIVERY_PHONES} (message_id uuid not null, guest_id uuid, phone text)")
    with conn.cursor() as cursor:
        with cursor.copy(f"copy {DELIVERY_PHONES} (message_id, guest_id, phone) from stdin") as copy:
            for row in delivery_phones:
                copy.write_row(row)
    conn.execute(f"create index if not exists delivery_phones_message_id_idx on {DELIVERY_PHONES} (message_id)")


def check_linkage_run(conn: psycopg.Connection, history_messages: list, examples: int = 5) -> dict:
    """The linkage run's own checks at quiescence: {'<name>': count, 'examples': {'<name>': [rows…]},
    'total': …}; `history_messages`: the world's history, left out."""
    messages = conn.execute(
        "select coalesce(array_agg(id), '{}') from public.messages where not (id = any(%s::uuid[]))",
        (list(history_messages),),
    ).fetchone()[0]
    found = check_case(conn, messages, since=None, skipped_explains=True)
    rows = {name: found.get(name, []) for name in LINKAGE_RUN_CASE_CHECKS}
    # a delivery with no audit row at all is counted once, as insert_without_audit
    unaudited = {row[0] for row in rows["insert_without_audit"]}
    rows["link_not_latest_audit"] = [
        row for row in rows["link_not_latest_audit"] if not (row[0] in unaudited and row[2] == "")
    ]
    params = {**WHOLE_DATABASE, "messages": messages}
    rows["link_to_a_user_no_guest_had"] = conn.execute(LINK_TO_A_USER_NO_GUEST_HAD, params).fetchall()
    rows["notes_left"] = conn.execute(NOTES_LEFT).fetchall()
    rows["outside_the_vocabulary"] = conn.execute(OUTSIDE_THE_VOCABULARY).fetchall()
    result: dict = {name: len(found_rows) for name, found_rows in rows.items()}
    result["examples"] = {
        name: [[str(value) for value in row] for row in found_rows[:examples]] for name, found_rows in rows.items()
    }
    result["total"] = sum(len(found_rows) for found_rows in rows.values())
    return result
