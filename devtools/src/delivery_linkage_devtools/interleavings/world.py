"""The small world each case plays in, built fresh (new ids) before the case, the same on both databases.

Event `event` has five guests: `guest_linked` (alice), `guest_unlinked` (no user yet; bob's, once he
signs up), `guest_removed` (carol, removed), `guest_also_linked` (erin), `guest_also_unlinked`.
Event `other_event` has `guest_elsewhere`: bob again (same phone as `guest_unlinked`), not linked yet.
User dave is the one a relink gives `guest_linked`. Each linked guest's user has the guest's phone, and
bob has his (still unlinked) guests' phone: the users fallback, when on, finds him.

Messages of `event`: `message_sent`, already delivered to its five guests and, by an app bug, to
`guest_elsewhere` (a delivery whose guest belongs to another event than its message); the app wrote
the user itself on the deliveries of the two linked guests (bookkept in `app_written_links`).
`message_a` and `message_b`: each session's own message to send, none delivered yet.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from delivery_linkage_devtools.concurrency.world import BOOKKEEPING_SCHEMA

USERS = ("alice", "bob", "carol", "dave", "erin")
# guest: (event, user, removed)
GUESTS = {
    "guest_linked": ("event", "alice", False),
    "guest_unlinked": ("event", None, False),
    "guest_removed": ("event", "carol", True),
    "guest_also_linked": ("event", "erin", False),
    "guest_also_unlinked": ("event", None, False),
    "guest_elsewhere": ("other_event", None, False),
}
SAME_PERSON = {"guest_elsewhere": "guest_unlinked"}  # shares that guest's phone
PHONE_OF = {"bob": "guest_unlinked"}  # a user not linked to that guest yet, with its phone
MESSAGES = ("message_sent", "message_a", "message_b")
SESSION_MESSAGES = {"a": "message_a", "b": "message_b"}
# the deliveries of message_sent, and those the app wrote a user on
SENT_TO = (
    "guest_linked",
    "guest_unlinked",
    "guest_removed",
    "guest_also_linked",
    "guest_also_unlinked",
    "guest_elsewhere",
)
APP_LINKED = ("guest_linked", "guest_also_linked")


def literal(value) -> str:
    if value is None:
        return "null"
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class CaseWorld:
    number: int  # the world's phones are numbers of its own: +1 NNNNNNNN dd
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fresh(cls, number: int | None = None) -> CaseWorld:
        world = cls(random.randrange(10**8) if number is None else number)
        for name in ("event", "other_event", *USERS, *GUESTS, *MESSAGES):
            world.ids[name] = uuid.uuid4()
        digits = 0
        for guest in GUESTS:
            if guest not in SAME_PERSON:
                digits += 1
                world.phones[guest] = world.phone(digits)
        for guest, same in SAME_PERSON.items():
            world.phones[guest] = world.phones[same]
        for session_digit, session in enumerate(SESSION_MESSAGES, start=90):
            world.phones[f"new_{session}"] = world.phone(session_digit)
        return world

    def phone(self, digit: int) -> str:
        return f"+1{self.number % 10**8:08d}{digit:02d}"

    @property
    def messages(self) -> list[uuid.UUID]:
        return [self.ids[name] for name in MESSAGES]

    @property
    def events(self) -> list[uuid.UUID]:
        return [self.ids["event"], self.ids["other_event"]]

    def values(self, session: str, isolation: str) -> dict[str, str]:
        """What a step's SQL may name, as SQL literals."""
        values = {name: literal(value) for name, value in self.ids.items()}
        values.update({f"{guest}_phone": literal(self.phones[guest]) for guest in GUESTS})
        values["message"] = literal(self.ids[SESSION_MESSAGES[session]])
        values["phone"] = literal(self.phones[f"new_{session}"])
        values["tag"] = literal(f"Guest renamed by session {session}")
        values["isolation"] = isolation
        return values

    def names(self) -> dict[str, str]:
        """id → role, to print rows by what they are."""
        return {str(value): name for name, value in self.ids.items()}

    def build_sql(self) -> str:
        """The world's rows, as the app writes them (with the linkage live where it is deployed)."""
        i, q = self.ids, literal
        users = ", ".join(f"({q(i[u])}, {q(self.phones.get(PHONE_OF.get(u) or self.guest_of(u)))})" for u in USERS)
        guests = ", ".join(
            f"({q(i[g])}, {q(i[event])}, {q(i[user]) if user else 'null'}, {q(self.phones[g])}, {q(g)}, "
            f"{'now()' if removed else 'null'})"
            for g, (event, user, removed) in GUESTS.items()
        )
        messages = ", ".join(f"({q(i[m])}, {q(i['event'])}, {q(m)})" for m in MESSAGES)
        sent = ", ".join(
            f"({q(i['message_sent'])}, {q(i[g])}, {q(self.phones[g])}, "
            f"{q(i[GUESTS[g][1]]) if g in APP_LINKED else 'null'}, 'delivered')"
            for g in SENT_TO
        )
        app_links = ", ".join(f"({q(i['message_sent'])}, {q(i[g])}, {q(i[GUESTS[g][1]])}, 'world')" for g in APP_LINKED)
        return f"""
            insert into public.users (id, phone) values {users};
            insert into public.events (id, title) values ({q(i["event"])}, 'Event'), ({q(i["other_event"])}, 'Other');
            insert into public.event_guests (id, event_id, user_id, phone, guest_name, removed_at) values {guests};
            insert into public.messages (id, event_id, body) values {messages};
            insert into public.message_deliveries (message_id, guest_id, phone_number, user_id, sms_status)
                values {sent};
            insert into {BOOKKEEPING_SCHEMA}.app_written_links (message_id, guest_id, user_id, source)
                values {app_links};
        """

    def guest_of(self, user: str) -> str | None:
        for guest, (_, owner, _) in GUESTS.items():
            if owner == user:
                return guest
        return None
