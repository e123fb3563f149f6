"""How many agents keep the promise: the last weeks' mail replayed minute by minute.  Pure.

Time is counted in whole minutes from the start of the replay.  Only open minutes
have capacity: each agent on duty gives ``rate`` = (1 − shrinkage) × occupancy minutes
of work per open minute; every mail takes the handle time; the queue is served by due
instant, earliest first.  A mail is kept when its work is done by its due instant.
Mail that arrives overnight or over a weekend waits for the next opening, which is
why this is a replay and not Erlang C (docs/reports.md).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

SLOTS = 7 * 24  # hours of the week, Monday 00:00 first
MAX_ROUNDS = 400


@dataclass(frozen=True, slots=True)
class Mail:
    """A customer message: the minute it arrived and the minute it is due."""

    arrival: int
    due: int


@dataclass(frozen=True, slots=True)
class OpenMinute:
    """A minute of open time: its index, its hour of the week and its local date."""

    minute: int
    slot: int
    day: date


@dataclass
class Outcome:
    kept: int = 0
    total: int = 0
    missed_by_slot: Counter[int] = field(default_factory=Counter)

    @property
    def ratio(self) -> float:
        return self.kept / self.total if self.total else 1.0


def scaled(mails: Sequence[Mail], factor: float) -> list[Mail]:
    """The same history with ``factor`` times the volume (``--volume +20%`` is 1.2): mail
    ``i`` is taken floor((i+1)·f) − floor(i·f) times, so the copies spread evenly."""
    out: list[Mail] = []
    for i, m in enumerate(mails):
        out += [m] * (math.floor((i + 1) * factor + 1e-9) - math.floor(i * factor + 1e-9))
    return out


def replay(mails: Sequence[Mail], minutes: Sequence[OpenMinute], roster: Sequence[int],
           work: float, rate: float) -> Outcome:
    """Serve ``mails`` (sorted by arrival) in the open ``minutes`` with ``roster[slot]``
    agents on duty; every mail is decided (kept or missed) by the last open minute."""
    out = Outcome(total=len(mails))
    queue: list[tuple[int, int]] = []
    left: dict[int, float] = {}
    i, n = 0, len(mails)
    starts = [m.minute for m in minutes]
    for om in minutes:
        while i < n and mails[i].arrival <= om.minute:
            heapq.heappush(queue, (mails[i].due, i))
            i += 1
        capacity = roster[om.slot] * rate
        used = 0.0
        while queue and used < capacity:
            due, j = queue[0]
            need = left.get(j, work)
            if used + need <= capacity + 1e-9:
                used += need
                heapq.heappop(queue)
                left.pop(j, None)
                done = om.minute + used / capacity
                if done <= due + 1e-9:
                    out.kept += 1
                else:
                    out.missed_by_slot[_slot_before(starts, minutes, due)] += 1
            else:
                left[j] = need - (capacity - used)
                used = capacity
    while i < n:  # arrived after the last open minute: never served
        heapq.heappush(queue, (mails[i].due, i))
        i += 1
    for due, _ in queue:
        out.missed_by_slot[_slot_before(starts, minutes, due)] += 1
    return out


def _slot_before(starts: Sequence[int], minutes: Sequence[OpenMinute], due: int) -> int:
    """The hour of the week of the last open minute before ``due``: where another agent
    would have kept that mail."""
    k = bisect_right(starts, due - 1) - 1
    return minutes[max(k, 0)].slot


def open_slots(minutes: Sequence[OpenMinute]) -> set[int]:
    return {m.slot for m in minutes}


def first_estimate(mails: Sequence[Mail], minutes: Sequence[OpenMinute], work: float,
                   rate: float) -> list[int]:
    """Per open hour of the week: the agents that do, on average, the work that falls
    due in that hour (a start for the search, not the answer)."""
    starts = [m.minute for m in minutes]
    due_work: Counter[int] = Counter()
    for m in mails:
        due_work[_slot_before(starts, minutes, m.due)] += 1
    per_slot = Counter(m.slot for m in minutes)  # open minutes of each hour of the week
    return [math.ceil(due_work[s] * work / (per_slot[s] * rate) - 1e-9) if per_slot[s] else 0
            for s in range(SLOTS)]


def needed(mails: Sequence[Mail], minutes: Sequence[OpenMinute], work: float, rate: float,
           target: float) -> tuple[list[int], Outcome]:
    """The smallest roster (per hour of the week, 0 when closed) found that keeps at
    least ``target`` of the mail, and its replay.  Greedy: from the first estimate, add
    an agent to the hours where most missed mail fell due, until the target is met;
    then take back, one by one, the agents of the last round that were not needed."""
    roster = first_estimate(mails, minutes, work, rate)
    opened = open_slots(minutes)
    out = replay(mails, minutes, roster, work, rate)
    last: list[int] = []
    for _ in range(MAX_ROUNDS):
        if out.ratio >= target or not out.missed_by_slot:
            break
        top = max(out.missed_by_slot.values())
        last = [s for s, k in out.missed_by_slot.items() if k * 2 >= top and s in opened]
        for s in last:
            roster[s] += 1
        out = replay(mails, minutes, roster, work, rate)
    for s in last:
        roster[s] -= 1
        trial = replay(mails, minutes, roster, work, rate)
        if trial.ratio >= target:
            out = trial
        else:
            roster[s] += 1
    return roster, out


def current(minutes: Sequence[OpenMinute], agents: int) -> list[int]:
    """The configured roster: ``agents`` in every open hour, none when closed."""
    opened = open_slots(minutes)
    return [agents if s in opened else 0 for s in range(SLOTS)]


def worst_day(mails: Sequence[Mail], minutes: Sequence[OpenMinute]) -> tuple[date, int] | None:
    """The open day with the most mail to answer: each mail counts on the day of the
    first open minute at or after its arrival (Monday takes the weekend's mail)."""
    starts = [m.minute for m in minutes]
    days: Counter[date] = Counter()
    for m in mails:
        k = bisect_right(starts, m.arrival - 1)
        if k < len(minutes):
            days[minutes[k].day] += 1
    if not days:
        return None
    day, count = max(days.items(), key=lambda kv: (kv[1], -kv[0].toordinal()))
    return day, count


def as_week(roster: Sequence[int]) -> list[list[int]]:
    """7 rows (Monday first) of 24 hours."""
    return [list(roster[d * 24:(d + 1) * 24]) for d in range(7)]
