"""A case's verdict: the linkage run against the control run of the same schedule.

Failures (each a finding of a kind):
- the invariants at quiescence, on the linkage database (concurrency/invariants.py, `check_case`):
  linkable_null, insert_without_audit, link_without_audit, link_not_latest_audit, cross_event_link,
  dangling_user;
- app_link_overwritten: a delivery whose user the app wrote (non-NULL in the control, where nothing
  but the app writes) has another user with the linkage;
- app_state_differs: the app's rows (deliveries and their statuses and phones, guests, users) are not
  those of the control, when both runs committed the same work;
- new_error: a step failed with the linkage and not in the control, or with another SQLSTATE;
  except a serialization failure (40001) under REPEATABLE READ and SERIALIZABLE (a deadlock, 40P01,
  is never excepted);
- new_wait: at READ COMMITTED, a step waited with the linkage and not in the control; except a
  transaction deleting or locking a user's row that waits for a send which linked a delivery to that
  user (`key_share_wait`, a note): the foreign key's FOR KEY SHARE on the user, which any design that
  writes user_id in the app's transaction takes — the minimal trigger, the physical limit, too;
- sweep_not_drained: the sweeper still had entries queued after SWEEP_FOR seconds.
Notes (not failures, counted and listed): the serialization failures the linkage added above READ
COMMITTED (`added_serialization_failure`), and the waits it added there (`added_wait`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from delivery_linkage_devtools.interleavings.databases import Run
from delivery_linkage_devtools.interleavings.sessions import ERROR, OK
from delivery_linkage_devtools.interleavings.space import Case
from delivery_linkage_devtools.interleavings.world import CaseWorld

SERIALIZATION_FAILURE = "40001"
# the steps that take a user's row FOR UPDATE, and the operations that write a delivery's user_id
USER_ROW_STEPS = {("user_delete", "delete"), ("user_delete_rolled_back", "delete"), ("user_row_locked", "lock")}
DELIVERY_WRITERS = {"send_one", "send_several", "announcement", "upsert_insert", "upsert_update"}


def key_share_wait(case: Case, step: str, waited_on: str | None) -> bool:
    """The step waits for the other session's foreign-key lock on a user its delivery was linked to."""
    session, _, name = step.partition("_")
    other = "b" if session == "a" else "a"
    return (
        (case.operation(session).name, name) in USER_ROW_STEPS
        and case.operation(other).name in DELIVERY_WRITERS
        and bool(waited_on)
        and all(part.startswith(f"{other}:") for part in waited_on.split("; "))
    )


@dataclass(frozen=True)
class Finding:
    kind: str
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def committed_steps(case: Case, run: Run) -> set[str]:
    """The statements whose work the database kept: in a transaction that committed, or on their own."""
    kept: set[str] = set()
    for session in ("a", "b"):
        pending: list[str] = []
        for step in case.operation(session).steps:
            name = f"{session}_{step.name}"
            outcome = run.schedule.outcomes.get(name)
            ok = outcome is not None and outcome.status == OK
            if step.own_transaction:
                if ok:
                    kept.add(name)
            elif step.name == "begin":
                pending = []
            elif step.name == "commit":
                if ok:
                    kept.update(pending)
                pending = []
            elif step.name == "rollback":
                pending = []
            elif ok:
                pending.append(name)
    return kept


def judge(case: Case, world: CaseWorld, linkage: Run, control: Run) -> tuple[list[Finding], list[Finding]]:
    """(failures, notes) of one case."""
    names = {**world.names(), **linkage.delivery_names}
    failures: list[Finding] = []
    notes: list[Finding] = []
    for check, rows in linkage.violations.items():
        failures.append(Finding(check, "; ".join(describe_row(row, names) for row in rows)))

    above_read_committed = case.isolation != "read committed"
    for step, mine in linkage.schedule.outcomes.items():
        theirs = control.schedule.outcomes.get(step)
        theirs_text = theirs.describe() if theirs else "not run"
        if mine.status == ERROR and not (theirs and theirs.status == ERROR and theirs.sqlstate == mine.sqlstate):
            finding = Finding("new_error", f"{step}: {mine.sqlstate} {mine.message} (control: {theirs_text})")
            if mine.sqlstate == SERIALIZATION_FAILURE and above_read_committed:
                notes.append(Finding("added_serialization_failure", finding.detail))
            else:
                failures.append(finding)
        if mine.waited and not (theirs and theirs.waited):
            finding = Finding("new_wait", f"{step} waited on {mine.waited_on} (control: {theirs_text})")
            if key_share_wait(case, step, mine.waited_on):
                notes.append(Finding("key_share_wait", finding.detail))
            elif above_read_committed:
                notes.append(Finding("added_wait", finding.detail))
            else:
                failures.append(finding)

    if committed_steps(case, linkage) == committed_steps(case, control):
        failures.extend(compare_app_state(linkage, control, names))
    if linkage.sweep and linkage.sweep.get("left"):
        failures.append(
            Finding(
                "sweep_not_drained", f"{linkage.sweep['left']} entries still queued after {linkage.sweep['seconds']} s"
            )
        )
    return failures, notes


def compare_app_state(linkage: Run, control: Run, names: dict[str, str]) -> list[Finding]:
    found = []
    differences = []
    for key in sorted(set(linkage.deliveries) | set(control.deliveries)):
        mine, theirs = linkage.deliveries.get(key), control.deliveries.get(key)
        label = delivery_label(key, names)
        if mine is None or theirs is None:
            differences.append(f"{label} {'missing' if mine is None else 'extra'}")
            continue
        for column in ("status", "phone"):
            if mine[column] != theirs[column]:
                differences.append(f"{label} {column} {mine[column]} (control {theirs[column]})")
        if theirs["user"] is not None and mine["user"] != theirs["user"]:
            found.append(
                Finding(
                    "app_link_overwritten",
                    f"{label}: user {name_of(mine['user'], names)}, the app wrote {name_of(theirs['user'], names)}",
                )
            )
    for guest in sorted(set(linkage.guests) | set(control.guests)):
        if linkage.guests.get(guest) != control.guests.get(guest):
            differences.append(
                f"{name_of(guest, names)} {linkage.guests.get(guest)} (control {control.guests.get(guest)})"
            )
    if sorted(linkage.users) != sorted(control.users):
        differences.append(
            f"users {[name_of(u, names) for u in linkage.users]} (control {[name_of(u, names) for u in control.users]})"
        )
    if differences:
        found.append(Finding("app_state_differs", "; ".join(differences)))
    return found


def name_of(value, names: dict[str, str]) -> str:
    return names.get(str(value), str(value)) if value is not None else "NULL"


def delivery_label(key: tuple, names: dict[str, str]) -> str:
    message, guest = key
    return f"delivery {name_of(message, names)}→{name_of(guest, names)}"


def describe_row(row: list[str], names: dict[str, str]) -> str:
    """An invariant's row, ids replaced by the world's roles (deliveries by message→guest)."""
    return " ".join(names.get(value, value) for value in row)
