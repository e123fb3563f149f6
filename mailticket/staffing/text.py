"""Staffing on a terminal: the agents needed per open hour of the week, and the verdict."""

from __future__ import annotations

from typing import Any

from mailticket.report.text import DAYS


def roster(week: list[list[int]]) -> list[str]:
    """7 rows of 24 hours; '.' where closed, else the agents on duty (capped at 99)."""
    lines = ["     " + "".join(f"{h:<3}" for h in range(24)).rstrip()]
    for day, row in zip(DAYS, week, strict=True):
        lines.append(f"{day}  " + "".join(f"{min(n, 99):<3}" if n else ".  " for n in row)
                     .rstrip())
    return lines


def render(data: dict[str, Any]) -> str:
    out: list[str] = []
    for d in data["departments"]:
        worst = d["worst_day"]
        volume = "" if d["volume"] == 1 else f", volume × {d['volume']:g}"
        out += [
            f"{d['department']}: last {d['weeks']} weeks, {d['customer_messages']} customer "
            f"messages{volume}",
            f"  handle time {d['handle_time_seconds'] / 60:g} min ({d['handle_time_source']})",
            f"  agents needed on duty to keep {d['target'] * 100:g} % of mail in time "
            f"(replayed: {d['kept_ratio'] * 100:.1f} % kept):",
            *("    " + line for line in roster(d["needed"])),
            f"  with the current {d['current']['agents_on_duty']} on duty: "
            f"{d['current']['kept_ratio'] * 100:.1f} % kept",
            "  worst day: " + (f"{worst['weekday']} {worst['date']} "
                               f"({worst['customer_messages']} messages to answer)"
                               if worst else "-"),
            "",
        ]
    return "\n".join(out).rstrip()
