"""The app's operations, each a session of named steps, as the isolation tester's specs write them.

A step's SQL names rows of the case's world by their role (`{guest_linked}`, `{alice}`, …: see
world.py); `{message}`, `{phone}` and `{tag}` are the session's own (its message to send, a phone
and a text of its own), so two sessions of one operation do the same thing to their own rows and
meet on the shared ones. `{isolation}` is the case's isolation level.

Every operation runs as the app's `service_role`, except the flag flip, the operator's, which runs as
the database owner. A step marked `own_transaction` runs outside any BEGIN (autocommit).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    name: str
    sql: str
    own_transaction: bool = False  # autocommit: a statement in a transaction of its own


@dataclass(frozen=True)
class Operation:
    name: str
    description: str
    steps: tuple[Step, ...]
    as_owner: bool = False  # the operator's, not the app's: runs as the database owner


BEGIN = Step("begin", "begin isolation level {isolation}")
COMMIT = Step("commit", "commit")
ROLLBACK = Step("rollback", "rollback")


def transaction(*statements: Step, end: Step = COMMIT) -> tuple[Step, ...]:
    return (BEGIN, *statements, end)


def send(step: str, guest: str) -> Step:
    return Step(
        step,
        "insert into message_deliveries (message_id, guest_id, phone_number) "
        f"values ({{message}}, {{{guest}}}, {{{guest}_phone}})",
    )


# --- sends ---------------------------------------------------------------------------------------------

send_one = Operation(
    "send_one",
    "one delivery, to the linked guest: a single-row INSERT",
    transaction(send("send", "guest_linked")),
)

send_several = Operation(
    "send_several",
    "two single-row INSERTs in one transaction: to the unlinked guest, then to the linked one",
    transaction(send("send_unlinked", "guest_unlinked"), send("send_linked", "guest_linked")),
)

announcement = Operation(
    "announcement",
    "one INSERT of a delivery to every active guest of the event (some linked, some not)",
    transaction(
        Step(
            "announce",
            "insert into message_deliveries (message_id, guest_id, phone_number) "
            "select {message}, g.id, g.phone from event_guests as g "
            "where g.event_id = {event} and g.removed_at is null",
        )
    ),
)

upsert_insert = Operation(
    "upsert_insert",
    "the app's upsert_message_delivery RPC taking the insert path (no delivery yet), unlinked guest",
    transaction(Step("upsert", "select upsert_message_delivery({message}, {guest_unlinked}, {guest_unlinked_phone})")),
)

upsert_update = Operation(
    "upsert_update",
    "upsert_message_delivery on the linked guest's delivery already sent: the conflict (update) path, "
    "which writes user_id = excluded.user_id",
    transaction(
        Step("upsert", "select upsert_message_delivery({message_sent}, {guest_linked}, {guest_linked_phone}, 'sent')")
    ),
)

status_update = Operation(
    "status_update",
    "the SMS provider's callback: the status of the unlinked guest's delivery already sent",
    transaction(
        Step(
            "status",
            "update message_deliveries set sms_status = 'delivered' "
            "where message_id = {message_sent} and guest_id = {guest_unlinked}",
        )
    ),
)

# --- guests --------------------------------------------------------------------------------------------

guest_link = Operation(
    "guest_link",
    "bob signs up: the app links his two guest records (the unlinked guest, and his guest of another event)",
    transaction(
        Step("link", "update event_guests set user_id = {bob} where id in ({guest_unlinked}, {guest_elsewhere})")
    ),
)

unlink = Operation(
    "unlink",
    "the linked guest is unlinked from alice",
    transaction(Step("unlink", "update event_guests set user_id = null where id = {guest_linked}")),
)

relink = Operation(
    "relink",
    "the linked guest is relinked from alice to dave",
    transaction(Step("relink", "update event_guests set user_id = {dave} where id = {guest_linked}")),
)

remove = Operation(
    "remove",
    "the linked guest is removed from the event (removed_at set)",
    transaction(Step("remove", "update event_guests set removed_at = now() where id = {guest_linked}")),
)

restore = Operation(
    "restore",
    "the removed guest (linked to carol) is restored (removed_at cleared)",
    transaction(Step("restore", "update event_guests set removed_at = null where id = {guest_removed}")),
)

guest_phone_edit = Operation(
    "guest_phone_edit",
    "the unlinked guest's phone is corrected",
    transaction(Step("phone", "update event_guests set phone = {phone} where id = {guest_unlinked}")),
)

guest_name_edit = Operation(
    "guest_name_edit",
    "the linked guest's display name is edited",
    transaction(Step("rename", "update event_guests set guest_name = {tag} where id = {guest_linked}")),
)

# --- users ---------------------------------------------------------------------------------------------

user_delete = Operation(
    "user_delete",
    "alice deletes her account (keys to users ON DELETE SET NULL)",
    transaction(Step("delete", "delete from users where id = {alice}")),
)

user_delete_rolled_back = Operation(
    "user_delete_rolled_back",
    "alice's account deletion, rolled back",
    transaction(Step("delete", "delete from users where id = {alice}"), end=ROLLBACK),
)

user_row_locked = Operation(
    "user_row_locked",
    "the app locks alice's row (select … for update) across the other session's steps",
    transaction(Step("lock", "select 1 from users where id = {alice} for update")),
)

# --- the operator --------------------------------------------------------------------------------------

flag_flip = Operation(
    "flag_flip",
    "the operator switches LINK_USER_BY_PHONE off (a transaction), then on again (autocommit)",
    (
        *transaction(
            Step("flag_off", "update feature_flags set enabled = false where flag_name = 'LINK_USER_BY_PHONE'")
        ),
        Step("flag_on", "update feature_flags set enabled = true where flag_name = 'LINK_USER_BY_PHONE'", True),
    ),
    as_owner=True,
)

OPERATIONS: tuple[Operation, ...] = (
    send_one,
    send_several,
    announcement,
    upsert_insert,
    upsert_update,
    status_update,
    guest_link,
    unlink,
    relink,
    remove,
    restore,
    guest_phone_edit,
    guest_name_edit,
    user_delete,
    user_delete_rolled_back,
    user_row_locked,
    flag_flip,
)
BY_NAME = {operation.name: operation for operation in OPERATIONS}
