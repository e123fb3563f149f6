"""The staffing replay on synthetic weeks (pure): a calendar of weekdays 09:00-17:00,
mail around the clock every day, a promise of 4 open hours."""

from __future__ import annotations

from datetime import date, timedelta

from mailticket.staffing import replay
from mailticket.staffing.replay import Mail, OpenMinute

MONDAY = date(2026, 11, 2)
WORK, RATE = 10.0, 0.6


def weekdays(weeks: int) -> list[OpenMinute]:
    """Open minutes Monday-Friday 09:00-17:00, minute 0 being the first Monday 00:00."""
    out = []
    for d in range(7 * weeks):
        if d % 7 < 5:
            for m in range(9 * 60, 17 * 60):
                out.append(OpenMinute(d * 1440 + m, (d % 7) * 24 + m // 60,
                                      MONDAY + timedelta(days=d)))
    return out


def history(weeks: int, every: int = 20) -> tuple[list[Mail], list[OpenMinute]]:
    """A mail every ``every`` minutes, day and night, due 240 open minutes after arrival."""
    minutes = weekdays(weeks + 1)  # the last week's mail falls due in the week after
    starts = [m.minute for m in minutes]
    mails = []
    for t in range(0, weeks * 7 * 1440, every):
        k = next(i for i, s in enumerate(starts) if s >= t)
        mails.append(Mail(t, starts[k + 239] + 1))
    return mails, minutes


def test_a_hand_counted_queue_is_served_earliest_due_first() -> None:
    # One open hour, one agent working every minute, 10 minutes a mail.  Three mails at
    # minute 0, due at 25, 10 and 20: served 10, 20, 25 → done at 10, 20, 30: two kept.
    minutes = [OpenMinute(m, 9, MONDAY) for m in range(60)]
    mails = [Mail(0, 25), Mail(0, 10), Mail(0, 20)]
    out = replay.replay(mails, minutes, [1] * replay.SLOTS, 10, 1.0)
    assert (out.kept, out.total) == (2, 3)
    # Served in arrival order instead, the 10 would be late too: the due order matters.
    assert replay.replay([Mail(0, 10), Mail(0, 20), Mail(0, 25)], minutes,
                         [1] * replay.SLOTS, 10, 1.0).kept == 2
    # Nobody on duty: nothing is kept, nothing is lost from the count.
    assert replay.replay(mails, minutes, [0] * replay.SLOTS, 10, 1.0).kept == 0


def test_no_agents_when_closed_and_monday_has_the_peak() -> None:
    mails, minutes = history(weeks=2)
    roster, _ = replay.needed(mails, minutes, WORK, RATE, 0.95)
    week = replay.as_week(roster)
    for day in range(7):
        for hour in range(24):
            if day >= 5 or not 9 <= hour < 17:
                assert week[day][hour] == 0, (day, hour)
    assert all(sum(week[day][9:17]) > 0 for day in range(5))  # every open day has some
    # The weekend's and the night's mail is due on Monday morning.
    assert max(week[0]) > max(week[2])
    assert sum(week[0]) > sum(week[2])
    worst = replay.worst_day(mails, minutes)
    assert worst is not None and worst[0].weekday() == 0


def test_the_roster_found_keeps_the_target_and_one_agent_less_somewhere_does_not() -> None:
    mails, minutes = history(weeks=2)
    for target in (0.8, 0.95, 1.0):
        roster, out = replay.needed(mails, minutes, WORK, RATE, target)
        again = replay.replay(mails, minutes, roster, WORK, RATE)
        assert again.ratio >= target and again.kept == out.kept
    # Far fewer agents everywhere miss the target.
    roster, _ = replay.needed(mails, minutes, WORK, RATE, 0.95)
    fewer = [max(0, n // 2) for n in roster]
    assert replay.replay(mails, minutes, fewer, WORK, RATE).ratio < 0.95


def test_more_mail_needs_more_agents_and_keeps_less_with_the_same_roster() -> None:
    mails, minutes = history(weeks=2)
    fixed = replay.current(minutes, 3)
    totals, kept = [], []
    for factor in (1.0, 1.2, 1.5, 2.0):
        more = replay.scaled(mails, factor)
        assert len(more) == int(len(mails) * factor + 1e-9)
        totals.append(sum(replay.needed(more, minutes, WORK, RATE, 0.95)[0]))
        kept.append(replay.replay(more, minutes, fixed, WORK, RATE).ratio)
    assert totals == sorted(totals) and totals[0] < totals[-1]
    assert kept == sorted(kept, reverse=True) and kept[0] > kept[-1]


def test_the_cumulative_replay_serves_as_the_minute_by_minute_heap_does() -> None:
    # Promises made the same way never decrease with the arrivals: first come, first
    # served is earliest due first, and the sum of capacity says when each mail is done.
    for every, factor in ((20, 1.0), (7, 1.5), (3, 2.0)):
        mails, minutes = history(weeks=2, every=every)
        mails = replay.scaled(mails, factor)
        queue = replay.Queue(mails, minutes)
        assert queue.fifo
        rosters = [replay.current(minutes, n) for n in range(6)]
        rosters += [replay.needed(mails, minutes, WORK, RATE, t)[0] for t in (0.5, 0.9, 1.0)]
        for roster in rosters:
            for work, rate in ((WORK, RATE), (6.0, 1.0), (12.5, 0.85)):
                fast = queue.replay(roster, work, rate)
                slow = replay.replay_heap(mails, minutes, roster, work, rate)
                assert (fast.kept, fast.missed) == (slow.kept, sorted(slow.missed))
    # Due instants out of arrival order: the heap decides.
    assert not replay.Queue([Mail(0, 25), Mail(0, 10)], weekdays(1)).fifo
