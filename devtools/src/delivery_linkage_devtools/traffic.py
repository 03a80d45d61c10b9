"""Live app traffic for the demo: announcement sends, guests linking one by one, one bulk link, and
the sweeper's passes that a running sweeper (pg_cron, `linkage sweep`) would make meanwhile."""

from __future__ import annotations

import random
from dataclasses import dataclass

from delivery_linkage.database.schemas import app_schema
from delivery_linkage.operations import sweep


@dataclass
class TrafficSummary:
    messages_sent: int = 0
    deliveries_inserted: int = 0
    guests_linked_one_by_one: int = 0
    guests_linked_in_bulk: int = 0
    sweeper_passes: int = 0


def send_announcement(conn, event_id, schema: str) -> int:
    """One message to every active guest of an event: one multi-row INSERT, as the app does."""
    message_id = conn.execute(
        f"insert into {schema}.messages (event_id, body) values (%s, 'Announcement') returning id",
        (event_id,),
    ).fetchone()[0]
    return conn.execute(
        f"""
        insert into {schema}.message_deliveries (message_id, guest_id, phone_number)
        select %s, g.id, g.phone from {schema}.event_guests as g
        where g.event_id = %s and g.removed_at is null
        """,
        (message_id, event_id),
    ).rowcount


def link_guest(conn, guest_id, schema: str) -> None:
    """The guest signs up: a user with the guest's phone, linked to the guest record."""
    conn.execute(
        f"""
        with new_user as (
            insert into {schema}.users (phone)
            select g.phone from {schema}.event_guests as g where g.id = %s
            returning id
        )
        update {schema}.event_guests set user_id = (select id from new_user) where id = %s
        """,
        (guest_id, guest_id),
    )


def bulk_link_event(conn, event_id, schema: str) -> int:
    """A guest import: every unlinked active guest of an event gets an account, in one UPDATE."""
    with conn.transaction():
        conn.execute(
            f"""
            create temporary table demo_new_accounts on commit drop as
            select g.id as guest_id, gen_random_uuid() as user_id
            from {schema}.event_guests as g
            where g.event_id = %s and g.user_id is null and g.removed_at is null
            """,
            (event_id,),
        )
        conn.execute(
            f"""
            insert into {schema}.users (id, phone)
            select a.user_id, g.phone
            from demo_new_accounts as a join {schema}.event_guests as g on g.id = a.guest_id
            """
        )
        return conn.execute(
            f"""
            update {schema}.event_guests as g set user_id = a.user_id
            from demo_new_accounts as a where g.id = a.guest_id
            """
        ).rowcount


def play(
    conn, seed: int = 7, announcements: int = 5, single_links: int = 20, sweep_after: bool = True
) -> TrafficSummary:
    """The traffic; then, unless a sweeper runs beside it (sweep_after False), the sweeper's passes."""
    schema = app_schema()
    rng = random.Random(seed)
    summary = TrafficSummary()
    events = [row[0] for row in conn.execute(f"select id from {schema}.events order by id").fetchall()]
    unlinked = [
        row[0]
        for row in conn.execute(
            f"select id from {schema}.event_guests where user_id is null and removed_at is null order by id"
        ).fetchall()
    ]
    for event_id in rng.sample(events, min(announcements, len(events))):
        summary.deliveries_inserted += send_announcement(conn, event_id, schema)
        summary.messages_sent += 1
    for guest_id in rng.sample(unlinked, min(single_links, len(unlinked))):
        link_guest(conn, guest_id, schema)
        summary.guests_linked_one_by_one += 1
    busiest = conn.execute(
        f"""
        select g.event_id from {schema}.event_guests as g
        where g.user_id is null and g.removed_at is null
        group by g.event_id order by count(*) desc, g.event_id limit 1
        """
    ).fetchone()
    if busiest:
        summary.guests_linked_in_bulk = bulk_link_event(conn, busiest[0], schema)
    for event_id in rng.sample(events, min(2, len(events))):
        summary.deliveries_inserted += send_announcement(conn, event_id, schema)
        summary.messages_sent += 1
    # the guests' links queued them: the sweeper backfills their deliveries once the links committed
    for _ in range(20 if sweep_after else 0):
        summary.sweeper_passes += 1
        if sweep.sweep_once(conn).left == 0:
            break
    return summary
