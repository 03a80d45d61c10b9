"""The space of cases: every unordered pair of operations (an operation with itself too), every
interleaving of their two sessions' steps, at every isolation level, with the users fallback
(LINK_USER_BY_PHONE_FALLBACK_TO_USERS) off and on: on, every delivery the insert trigger cannot link
by its guest goes through the phone rules, a path of its own.

A schedule is the sequence of sessions whose next step runs ("a", "b", "a", …), as the isolation
tester's permutations list steps. Session `a` runs the pair's first operation, `b` its second.

Pruned, because provably symmetric:
- pairs are unordered: (x, y) and (y, x) give the same interleavings with the sessions renamed;
- a pair of the same operation: swapping the sessions maps each schedule onto its mirror (the world
  gives each session its own message, phone and text, symmetric by construction), so only the
  schedules whose first step is session a's are run (exactly half: no schedule is its own mirror).
Nothing else is pruned.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from math import comb

from delivery_linkage_devtools.interleavings.operations import OPERATIONS, Operation

LEVELS = ("read committed", "repeatable read", "serializable")
LEVEL_NAMES = {"read committed": "rc", "repeatable read": "rr", "serializable": "ser"}
FALLBACKS = (False, True)  # LINK_USER_BY_PHONE_FALLBACK_TO_USERS for the whole case


@dataclass(frozen=True)
class Case:
    number: int
    isolation: str
    first: Operation  # session a
    second: Operation  # session b
    schedule: tuple[str, ...]  # "a"/"b" per step
    fallback: bool = False  # the users fallback on for the whole case

    @property
    def pair(self) -> str:
        return f"{self.first.name} × {self.second.name}"

    def operation(self, session: str) -> Operation:
        return self.first if session == "a" else self.second

    def step_names(self) -> list[str]:
        """The permutation, as the isolation tester prints it: `a_begin a_send b_begin …`."""
        seen = {"a": 0, "b": 0}
        names = []
        for session in self.schedule:
            names.append(f"{session}_{self.operation(session).steps[seen[session]].name}")
            seen[session] += 1
        return names

    @property
    def permutation(self) -> str:
        return " ".join(self.step_names())


def schedules(first: int, second: int, same_operation: bool) -> Iterator[tuple[str, ...]]:
    """Every interleaving of `first` steps of a and `second` steps of b, in lexicographic order; for
    the same operation, only those starting with a."""
    total = first + second
    for positions in itertools.combinations(range(total), first):
        chosen = set(positions)
        schedule = tuple("a" if index in chosen else "b" for index in range(total))
        if same_operation and schedule[0] != "a":
            continue
        yield schedule


def schedule_count(first: int, second: int, same_operation: bool) -> int:
    count = comb(first + second, first)
    return count // 2 if same_operation else count


def pairs(operations: tuple[Operation, ...] = OPERATIONS) -> list[tuple[Operation, Operation]]:
    return list(itertools.combinations_with_replacement(operations, 2))


def cases(
    operations: tuple[Operation, ...] = OPERATIONS,
    levels: tuple[str, ...] = LEVELS,
    only_pairs: set[tuple[str, str]] | None = None,
    fallbacks: tuple[bool, ...] = FALLBACKS,
) -> list[Case]:
    """Every case, numbered from 1. `only_pairs`: a subset, as {(first, second)} (either order)."""
    result = []
    for fallback in fallbacks:
        for isolation in levels:
            for first, second in pairs(operations):
                if only_pairs is not None and not ({(first.name, second.name), (second.name, first.name)} & only_pairs):
                    continue
                for schedule in schedules(len(first.steps), len(second.steps), first is second):
                    result.append(Case(len(result) + 1, isolation, first, second, schedule, fallback))
    return result


def size(
    operations: tuple[Operation, ...] = OPERATIONS,
    levels: tuple[str, ...] = LEVELS,
    fallbacks: tuple[bool, ...] = FALLBACKS,
) -> int:
    """The number of cases, from the step counts alone."""
    per_level = sum(schedule_count(len(a.steps), len(b.steps), a is b) for a, b in pairs(operations))
    return len(fallbacks) * len(levels) * per_level
