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
MAX_SCALE = 1024.0  # a roster of that shape 1024 times the average load
BISECTIONS = 6  # the scale to within 1/64 of the smallest that keeps the target


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
    missed: list[int] = field(default_factory=list)  # indices of the mails not kept

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
    agents on duty, earliest due first; every mail is decided (kept or missed) by the
    last open minute."""
    return Queue(mails, minutes).replay(roster, work, rate)


def replay_heap(mails: Sequence[Mail], minutes: Sequence[OpenMinute], roster: Sequence[int],
           work: float, rate: float) -> Outcome:
    """Serve ``mails`` (sorted by arrival) in the open ``minutes`` with ``roster[slot]``
    agents on duty, earliest due first; every mail is decided (kept or missed) by the
    last open minute.  Minute by minute, a heap of what waits: the reference that
    ``Queue.replay`` is checked against (tests/test_staffing_replay.py)."""
    out = Outcome(total=len(mails))
    queue: list[tuple[int, int]] = []
    left: dict[int, float] = {}
    i, n = 0, len(mails)
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
                    out.missed.append(j)
            else:
                left[j] = need - (capacity - used)
                used = capacity
    while i < n:  # arrived after the last open minute: never served
        heapq.heappush(queue, (mails[i].due, i))
        i += 1
    out.missed += [j for _, j in queue]
    return out


class Queue:
    """The replay of one history for many rosters.  When the due instants do not
    decrease with the arrivals (a promise made the same way for every message never
    does), earliest due first is first come first served, and every mail takes the same
    work: each one is done when the open capacity since the first arrival has covered
    its work and the work of all before it (a cumulative sum, in numpy); otherwise the
    heap of ``replay_heap``."""

    def __init__(self, mails: Sequence[Mail], minutes: Sequence[OpenMinute]) -> None:
        import numpy as np

        self.mails, self.minutes = mails, minutes
        self.at = np.fromiter((m.minute for m in minutes), float, len(minutes))
        self.slot = np.fromiter((m.slot for m in minutes), np.intp, len(minutes))
        arrival = np.fromiter((m.arrival for m in mails), float, len(mails))
        self.due = np.fromiter((m.due for m in mails), float, len(mails))
        self.fifo = bool(np.all(np.diff(self.due) >= 0)) and bool(
            np.all(np.diff(arrival) >= 0))
        self.start = np.searchsorted(self.at, arrival, side="left")  # first usable minute
        self.index = np.arange(len(mails), dtype=float)

    def replay(self, roster: Sequence[int], work: float, rate: float) -> Outcome:
        if not self.fifo or not len(self.minutes):
            return replay_heap(self.mails, self.minutes, roster, work, rate)
        import numpy as np

        out = Outcome(total=len(self.mails))
        if not len(self.mails):
            return out
        capacity = np.asarray(roster, dtype=float)[self.slot] * rate
        before = np.concatenate(([0.0], np.cumsum(capacity)))  # capacity before minute k
        # Where each mail's work ends on the capacity axis (Lindley's recursion).
        ends = work * (self.index + 1) + np.maximum.accumulate(
            before[self.start] - work * self.index)
        k = np.searchsorted(before[1:], ends - 1e-9, side="left")  # the minute it ends in
        done = k < len(capacity)
        k = np.minimum(k, len(capacity) - 1)
        cap = capacity[k]
        finish = self.at[k] + (ends - before[k]) / np.where(cap > 0, cap, 1.0)
        kept = done & (finish <= self.due + 1e-9)
        out.kept = int(kept.sum())
        out.missed = np.flatnonzero(~kept).tolist()
        return out


def spread(mails: Sequence[Mail], minutes: Sequence[OpenMinute]) -> list[float]:
    """Per hour of the week, the share of each mail's window (the open minutes from its
    arrival to its due instant) that falls in it, summed over the mails; a mail due
    before any open minute counts in the hour of the last one before it.  Each window
    adds its 1/length to a running sum at its start and takes it off at its end."""
    import numpy as np

    out = np.zeros(SLOTS)
    n = len(minutes)
    if not n or not mails:
        return out.tolist()
    starts = np.fromiter((m.minute for m in minutes), float, n)
    slot = np.fromiter((m.slot for m in minutes), np.intp, n)
    k0 = np.searchsorted(starts, np.fromiter((m.arrival for m in mails), float, len(mails)))
    k1 = np.searchsorted(starts, np.fromiter((m.due for m in mails), float, len(mails)))
    empty = k1 <= k0
    out += np.bincount(slot[np.maximum(np.minimum(k0[empty], n) - 1, 0)], minlength=SLOTS)
    share = 1.0 / (k1[~empty] - k0[~empty])
    rises = np.zeros(n + 1)
    np.add.at(rises, k0[~empty], share)
    np.add.at(rises, k1[~empty], -share)
    out += np.bincount(slot, weights=np.cumsum(rises)[:n], minlength=SLOTS)
    return [float(x) for x in out]


def open_slots(minutes: Sequence[OpenMinute]) -> set[int]:
    return {m.slot for m in minutes}


def base_load(mails: Sequence[Mail], minutes: Sequence[OpenMinute], work: float,
              rate: float) -> list[float]:
    """Per hour of the week: the agents (a fraction) that do, on average, the work each
    mail spreads evenly over its window; 0 when closed."""
    load = spread(mails, minutes)
    per_slot = Counter(m.slot for m in minutes)  # open minutes of each hour of the week
    return [load[s] * work / (per_slot[s] * rate) if per_slot[s] else 0.0
            for s in range(SLOTS)]


def shaped(base: Sequence[float], scale: float) -> list[int]:
    """The roster of that shape, ``scale`` times as large, in whole agents."""
    return [math.ceil(b * scale - 1e-9) for b in base]


def needed(mails: Sequence[Mail], minutes: Sequence[OpenMinute], work: float, rate: float,
           target: float, queue: Queue | None = None) -> tuple[list[int], Outcome]:
    """The smallest roster (per hour of the week, 0 when closed) found that keeps at
    least ``target`` of the mail, and its replay.  Its shape is the average load of
    each hour (every mail's work spread over its window); its size the smallest scale
    of that shape whose replay keeps the target, found by bisection (a few replays)."""
    base = base_load(mails, minutes, work, rate)
    queue = queue or Queue(mails, minutes)
    hi = 1.0
    out = queue.replay(shaped(base, hi), work, rate)
    while out.ratio < target and hi < MAX_SCALE:
        hi *= 2
        out = queue.replay(shaped(base, hi), work, rate)
    lo = 0.0 if hi == 1.0 else hi / 2
    best = (shaped(base, hi), out)
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        trial = queue.replay(shaped(base, mid), work, rate)
        if trial.ratio >= target:
            hi, best = mid, (shaped(base, mid), trial)
        else:
            lo = mid
    return best


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
