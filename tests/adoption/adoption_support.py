"""Helpers of the adoption suite: the app's own ways of writing (its RPC, its roles), reading a
delivery's audit, capturing NOTICEs. The world's ids are in unveil_fixture."""

from __future__ import annotations

import contextlib
from functools import partial

import psycopg
import unveil_fixture as uf
from psycopg.rows import dict_row

from delivery_linkage_devtools.testing import world

U, E, G, M = uf.USERS, uf.EVENTS, uf.GUESTS, uf.MESSAGES

# a delivery's user as text, as the world names its rows
delivery_user = partial(world.delivery_user, as_text=True)

# the audit rows of one delivery in the order they were written (legacy rows first: they are older)
AUDIT_OF = """
    select * from public.user_link_audit_of(%s)
    order by audit_source = 'linkage', created_at,
             case when audit_source = 'linkage' then split_part(id, '.', 1)::bigint end,
             case when audit_source = 'linkage' then split_part(id, '.', 2)::integer end
"""


def new_message(conn, event="wedding", sender="hana", content="test") -> str:
    """A new message to an event's guests, as its host writes it; its id."""
    return str(
        conn.execute(
            "insert into public.messages (event_id, sender_user_id, content) values (%s, %s, %s) returning id",
            (E[event], U[sender], content),
        ).fetchone()[0]
    )


def upsert(conn, message_id, guest, phone=None, user_id=None, sms_status="pending") -> str:
    """A delivery as the app writes it: its RPC upsert_message_delivery (guest by world key or id)."""
    guest_id = G.get(guest, guest)
    return str(
        conn.execute(
            "select public.upsert_message_delivery(p_message_id => %s, p_guest_id => %s, p_phone_number => %s, "
            "p_user_id => %s, p_sms_status => %s)",
            (message_id, guest_id, phone, user_id, sms_status),
        ).fetchone()[0]
    )


def world_delivery(conn, message, guest) -> str:
    return str(
        conn.execute(
            "select id from public.message_deliveries where message_id = %s and guest_id = %s", (M[message], G[guest])
        ).fetchone()[0]
    )


def audit_of(conn, delivery_id) -> list[dict]:
    """The delivery's audit rows (user_link_audit_of), oldest first; uuids as text."""
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(AUDIT_OF, (delivery_id,)).fetchall()
    return [{key: (str(value) if hasattr(value, "hex") else value) for key, value in row.items()} for row in rows]


def new_audit(conn, delivery_id) -> list[tuple]:
    """(outcome, reason, linked user) of the delivery's audit rows written by this project."""
    return [
        (row["outcome"], row["reason"], row["linked_user_id"])
        for row in audit_of(conn, delivery_id)
        if row["audit_source"] == "linkage"
    ]


def new_user(conn, phone: str, name: str = "New") -> str:
    """A user signing up (the app's users row; its trigger links guest rows with the same phone)."""
    return str(
        conn.execute(
            "insert into public.users (id, phone, full_name) values (gen_random_uuid(), %s, %s) returning id",
            (phone, name),
        ).fetchone()[0]
    )


@contextlib.contextmanager
def notices(conn: psycopg.Connection):
    """The NOTICE messages the server sends on `conn` inside the block (a list, filled as they come)."""
    received: list[str] = []

    def handler(diagnostic):
        received.append(diagnostic.message_primary)

    conn.add_notice_handler(handler)
    try:
        yield received
    finally:
        conn.remove_notice_handler(handler)


@contextlib.contextmanager
def as_service_role(settings):
    """A connection as the data API's service role (logged in as authenticator, SET ROLE service_role)."""
    with psycopg.connect(uf.as_api_login(settings).conninfo(), autocommit=True) as conn:
        conn.execute("set role service_role")
        yield conn
