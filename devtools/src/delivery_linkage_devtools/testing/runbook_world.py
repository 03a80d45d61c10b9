"""The runbook's situation in a test database: `total` deliveries, `defects` of them linkable but NULL
(the runbook's 3 of 71, 4.23 %: critical; 1 of 200: a warning). One event, one announcement."""

from __future__ import annotations

import uuid

import psycopg

from delivery_linkage_devtools import synthetic


def build(conn: psycopg.Connection, total: int = 71, defects: int = 3) -> list[uuid.UUID]:
    """The runbook's situation: one event, one announcement, `total` guests and deliveries.

    The first `defects` deliveries are the defect (guest active and linked, delivery user_id NULL); of
    the others every second one is consistent (user_id = the guest's user) and the rest belong to
    unlinked guests. Every phone of a call is distinct, no guest is removed, no unlinked guest's phone
    is a user's: no conflict and no subtlety changes the count. Each call adds its event to what the
    database holds. Written with the linkage's triggers off and then set back exactly, in one
    transaction (a savepoint inside the caller's), as synthetic.generate() does. Returns the ids of
    the defective deliveries, in guest order.
    """
    if not 0 <= defects <= total:
        raise ValueError("need 0 <= defects <= total")
    with conn.transaction():
        states = synthetic.disable_triggers(conn)
        rows = conn.execute(
            f"""
            with event as (
                insert into {synthetic.SCHEMA}.events (title, starts_at, created_at)
                values ('Runbook event', now() + interval '7 days', now() - interval '10 days')
                returning id
            ),
            message as (
                insert into {synthetic.SCHEMA}.messages (event_id, body, created_at)
                select id, 'Runbook announcement', now() - interval '2 days' from event
                returning id, event_id
            ),
            plan as materialized (
                select i, gen_random_uuid() as guest_id, gen_random_uuid() as delivery_id,
                       case when i <= %(bad)s or (i - %(bad)s) %% 2 = 1 then gen_random_uuid() end as user_id,
                       i <= %(bad)s as defect,
                       '+1' || (case when i <= %(bad)s or (i - %(bad)s) %% 2 = 1 then '415' else '646' end)
                           || lpad((5550000 + i)::text, 7, '0') as phone
                from generate_series(1, %(total)s) as i
            ),
            ins_users as (
                insert into {synthetic.SCHEMA}.users (id, phone, email, display_name, created_at)
                select user_id, phone, 'runbook' || i || '.' || user_id || '@example.test',
                       'Runbook user ' || i, now() - interval '30 days'
                from plan where user_id is not null
            ),
            ins_guests as (
                insert into {synthetic.SCHEMA}.event_guests (id, event_id, user_id, phone, guest_name, rsvp_status,
                                                   created_at, updated_at)
                select p.guest_id, m.event_id, p.user_id, p.phone, 'Runbook guest ' || p.i, 'attending',
                       now() - interval '9 days', case when p.defect then now() - interval '1 day'
                                                       else now() - interval '9 days' end
                from plan as p cross join message as m
            ),
            ins_deliveries as (
                insert into {synthetic.SCHEMA}.message_deliveries (id, message_id, guest_id, phone_number, user_id,
                                                         sms_status, provider_sid, created_at, updated_at)
                select p.delivery_id, m.id, p.guest_id, p.phone, case when not p.defect then p.user_id end,
                       'delivered', 'SM' || md5(p.delivery_id::text),
                       now() - interval '2 days', now() - interval '2 days'
                from plan as p cross join message as m
            )
            select delivery_id from plan where defect order by i
            """,
            {"total": total, "bad": defects},
        ).fetchall()
        synthetic.restore_triggers(conn, states)
        synthetic.analyze(conn)
    return [row[0] for row in rows]
