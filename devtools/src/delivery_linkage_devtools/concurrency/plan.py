"""The workload: a reproducible sequence of app operations per connection, drawn from a seed.

A plan is decided entirely before the run, from the seed and the world's ids, never from what the
database holds: the same seed gives the same operations, parameters and isolation levels on every
connection, in the linkage run and in the control run alike (`digest` proves it).

The mix is an events app's: announcement sends (one INSERT of every active guest of an event),
single sends and sends to a few guests in one transaction, the app's upsert RPC
(`INSERT … ON CONFLICT (message_id, guest_id) DO UPDATE`, with and without a user_id from the app,
writing `user_id = excluded.user_id` as the project's fixture does or
`user_id = coalesce(excluded.user_id, message_deliveries.user_id)` as the app's own RPC does),
delivery status callbacks, guests linked (by the app, or by a sign-up creating the user), unlinked,
relinked, removed, restored, linked in bulk, phone and display-name edits, a guest reading their
messages, feature flag flips (the users fallback toggled; linking itself, LINK_USER_BY_PHONE, switched
off and, a few operations later on the same connection, on again, so it ends on), a few user
deletions, and a user's row held by the app while guests of that user are sent to: locked FOR
UPDATE for a moment (a profile edit), its email changed (a unique key: the same lock), or deleted
and rolled back (issue 15's hole 1). Isolation levels: 70 % READ COMMITTED, 15 % REPEATABLE READ,
15 % SERIALIZABLE, per transaction.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import uuid
from dataclasses import dataclass

from delivery_linkage_devtools.concurrency.world import World, new_id

READ_COMMITTED, REPEATABLE_READ, SERIALIZABLE = "read committed", "repeatable read", "serializable"
ISOLATION_LEVELS = (READ_COMMITTED, REPEATABLE_READ, SERIALIZABLE)
ISOLATION_WEIGHTS = (70, 15, 15)

# operation kind -> weight (per 100 operations)
MIX: dict[str, float] = {
    "announcement": 3,
    "send_one": 14,
    "send_several": 6,
    "send_phone_only": 2,
    "edit_then_send": 2,
    "upsert": 7,
    "upsert_again": 5,
    "status_update": 18,
    "read_messages": 5,
    "link": 5,
    "signup_link": 2,
    "unlink": 3,
    "relink": 2,
    "remove": 2,
    "restore": 2,
    "bulk_link": 1,
    "phone_edit": 4,
    "name_edit": 6,
    "flag_flip": 0.25,
    "linking_off": 0.05,  # LINK_USER_BY_PHONE off; the same connection turns it on (linking_on) 3-12 operations later
    "delete_user": 0.05,
    "lock_user": 1.5,
    "email_edit": 1,
    "delete_user_rolled_back": 0.2,
}
INSERT_KINDS = (
    "announcement",
    "send_one",
    "send_several",
    "send_phone_only",
    "edit_then_send",
    "upsert",
    "upsert_again",
)
STATUSES = ("sent", "delivered", "failed", "undelivered")


@dataclass(frozen=True)
class Operation:
    kind: str
    isolation: str
    params: tuple

    def describe(self) -> str:
        return f"{self.kind}|{self.isolation}|" + "|".join(map(str, self.params))


def connection_seed(seed: int, connection: int) -> int:
    """The seed of one connection's plan, printed with the run."""
    return int.from_bytes(hashlib.sha256(f"concurrency:{seed}:{connection}".encode()).digest()[:6], "big")


class Planner:
    def __init__(self, world: World, seed: int, mix: dict[str, float] | None = None):
        self.world, self.rng = world, random.Random(seed)
        self.sent: list[tuple[uuid.UUID, uuid.UUID]] = []  # (message, guest) pairs this connection sent
        self.upserted: list[tuple[uuid.UUID, uuid.UUID, str]] = []
        mix = {**MIX, **(mix or {})}
        self.kinds, self.weights = list(mix), list(mix.values())
        self.planned = 0
        self.linking_on_at: list[int] = []  # when this connection turns linking back on

    # -- picks --------------------------------------------------------------------------------------
    def event(self) -> uuid.UUID:
        world = self.world
        return self.rng.choice(world.hot_events if self.rng.random() < 0.5 else world.events)

    def guest(self, event: uuid.UUID | None = None) -> tuple[uuid.UUID, uuid.UUID]:
        event = event or self.event()
        return event, self.rng.choice(self.world.guests_by_event[event])

    def phone_for(self, event: uuid.UUID, guest: uuid.UUID) -> str | None:
        """The phone the app sends to: mostly the guest's as stored, sometimes typed another way,
        missing, or another guest's."""
        phone = self.world.guest_phone[guest]
        roll = self.rng.random()
        if roll < 0.10:
            return f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
        if roll < 0.15:
            return None
        if roll < 0.20:
            return self.world.guest_phone[self.guest(event)[1]]
        return phone

    def isolation(self) -> str:
        return self.rng.choices(ISOLATION_LEVELS, ISOLATION_WEIGHTS)[0]

    def user(self) -> uuid.UUID:
        return self.rng.choice(self.world.account_users)

    def linked_user(self) -> uuid.UUID:
        """The user of a guest the workload sends to (hot events half the time), as the world began:
        the user whose row, held, makes a send to that guest race with it."""
        event = self.event()
        users = [u for g in self.world.guests_by_event[event] if (u := self.world.guest_user[g]) is not None]
        return self.rng.choice(users) if users else self.user()

    # -- operations ---------------------------------------------------------------------------------
    def next(self, remaining: int = 1_000_000) -> Operation:
        """The next operation; `remaining` (this one included) lets a switch of linking back on come
        before the plan ends."""
        self.planned += 1
        due = self.linking_on_at and self.linking_on_at[0] <= self.planned
        if due or remaining <= len(self.linking_on_at):
            self.linking_on_at.pop(0)
            return Operation("linking_on", self.isolation(), ())
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "linking_off" and remaining <= len(self.linking_on_at) + 1:
            kind = "send_one"  # no room left to turn it on again
        params = getattr(self, f"plan_{kind}")()
        if params is None:  # nothing to act on yet (e.g. no earlier send): a single send instead
            kind, params = "send_one", self.plan_send_one()
        return Operation(kind, self.isolation(), params)

    def plan_announcement(self):
        return (new_id(self.rng), self.event())

    def plan_send_one(self):
        event, guest = self.guest()
        message = new_id(self.rng)
        self.sent.append((message, guest))
        return (message, event, guest, self.phone_for(event, guest))

    def plan_send_several(self):
        event = self.event()
        guests = self.rng.sample(
            self.world.guests_by_event[event], min(len(self.world.guests_by_event[event]), self.rng.randint(2, 5))
        )
        message = new_id(self.rng)
        self.sent.extend((message, g) for g in guests)
        return (message, event, tuple((g, self.phone_for(event, g)) for g in guests))

    def plan_send_phone_only(self):
        event, guest = self.guest()
        return (new_id(self.rng), event, self.world.guest_phone[guest])

    def plan_edit_then_send(self):
        event, guest = self.guest()
        message = new_id(self.rng)
        self.sent.append((message, guest))
        return (guest, f"Guest {self.rng.randrange(10**6)}", message, event, self.phone_for(event, guest))

    def plan_upsert(self):
        event, guest = self.guest()
        message = self.rng.choice(self.world.upsert_messages[event])
        phone = self.phone_for(event, guest)
        self.upserted.append((message, guest, phone))
        app_user = self.rng.random() < 0.3  # the app passes the guest's user it read
        style = "coalesce" if self.rng.random() < 0.5 else "excluded"
        return (message, guest, phone, app_user, style, "pending")

    def plan_upsert_again(self):
        """The app's RPC again for a delivery it upserted: the ON CONFLICT DO UPDATE path."""
        if not self.upserted:
            return None
        message, guest, phone = self.rng.choice(self.upserted)
        app_user = self.rng.random() < 0.3
        style = "coalesce" if self.rng.random() < 0.5 else "excluded"
        return (message, guest, phone, app_user, style, self.rng.choice(STATUSES))

    def plan_status_update(self):
        if self.sent and self.rng.random() < 0.6:
            message, guest = self.rng.choice(self.sent[-200:])
        else:
            event, guest = self.guest()
            message = self.rng.choice(self.world.history_messages[event])
        return (message, guest, self.rng.choice(STATUSES), f"SM{self.rng.getrandbits(48):012x}")

    def plan_read_messages(self):
        return (self.guest()[1],)

    def plan_link(self):
        return (self.guest()[1], self.user())

    def plan_signup_link(self):
        return (new_id(self.rng), self.guest()[1])

    def plan_unlink(self):
        return (self.guest()[1],)

    def plan_relink(self):
        return (self.guest()[1], self.user())

    def plan_remove(self):
        return (self.guest()[1],)

    def plan_restore(self):
        return (self.guest()[1],)

    def plan_bulk_link(self):
        event = self.event()
        guests = self.rng.sample(
            self.world.guests_by_event[event], min(len(self.world.guests_by_event[event]), self.rng.randint(2, 8))
        )
        return (tuple(guests), tuple(self.user() for _ in guests))

    def plan_phone_edit(self):
        event, guest = self.guest()
        roll = self.rng.random()
        if roll < 0.5:  # a new number
            phone = f"+1666{self.rng.randrange(10**7):07d}"
        elif roll < 0.8:  # the same number typed another way
            phone = self.world.guest_phone[guest][2:]
        else:  # back to the original
            phone = self.world.guest_phone[guest]
        return (guest, phone)

    def plan_name_edit(self):
        return (self.guest()[1], f"Guest {self.rng.randrange(10**6)}")

    def plan_flag_flip(self):
        return ("LINK_USER_BY_PHONE_FALLBACK_TO_USERS",)

    def plan_linking_off(self):
        bisect.insort(self.linking_on_at, self.planned + self.rng.randint(3, 12))
        return ()

    def plan_delete_user(self):
        return (self.rng.choice(self.world.deletable_users),)

    def plan_lock_user(self):
        """select … for update of a user, then an edit of its display name, holding the row a moment."""
        return (self.linked_user(), f"User {self.rng.randrange(10**6)}", 0.005)

    def plan_email_edit(self):
        return (self.linked_user(), f"user-{self.rng.getrandbits(64):016x}@example.com")

    def plan_delete_user_rolled_back(self):
        return (self.linked_user(),)


def plan(
    world: World, seed: int, connections: int, operations: int, mix: dict[str, float] | None = None
) -> list[list[Operation]]:
    """`operations` operations in all, split evenly over `connections` connections; `mix` overrides
    weights of MIX (an experiment: e.g. {"flag_flip": 0} never turns the users fallback on)."""
    unknown = set(mix or {}) - set(MIX)
    if unknown:
        raise ValueError(f"no such operation kind in the mix: {sorted(unknown)}; the kinds: {sorted(MIX)}")
    result = []
    for index in range(connections):
        count = operations // connections + (1 if index < operations % connections else 0)
        planner = Planner(world, connection_seed(seed, index), mix)
        result.append([planner.next(remaining=count - done) for done in range(count)])
    return result


def digest(operations: list[Operation]) -> str:
    """A fingerprint of one connection's plan: equal for equal plans."""
    hasher = hashlib.sha256()
    for operation in operations:
        hasher.update(operation.describe().encode())
        hasher.update(b"\n")
    return hasher.hexdigest()[:16]
