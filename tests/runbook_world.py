"""The runbook's situation in a test database: `total` deliveries, `defects` of them linkable but NULL."""

from __future__ import annotations

import world as w


def build(conn, total: int, defects: int) -> list:
    """Consistent deliveries, plainly unlinked ones, and `defects` created before their guest was linked."""
    event = w.event(conn)
    message = w.message(conn, event)
    defective = []
    conn.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    for i in range(total):
        if i < defects:
            guest = w.guest(conn, event, w.user(conn), None)
            defective.append(w.deliver(conn, message, guest, None))
        elif i % 3 == 0:
            guest = w.guest(conn, event, None, None)
            w.deliver(conn, message, guest, None)
        else:
            person = w.user(conn)
            guest = w.guest(conn, event, person, None)
            w.deliver(conn, message, guest, None, user_id=person)
    conn.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    return defective
