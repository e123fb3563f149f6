"""The report on a terminal: a few lines per department and the week as a heat map."""

from __future__ import annotations

from typing import Any

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SHADES = " .:-=+*#%@"


def span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{minutes}m"]
    return " ".join(parts[:2]) if days or hours else f"{minutes}m"


def heat_map(by_hour: list[list[int]]) -> list[str]:
    """7 rows of 24 hours; the darker, the more customer messages in that hour."""
    top = max((n for row in by_hour for n in row), default=0)
    lines = ["     " + "".join(f"{h:<3}" for h in range(0, 24, 3)).rstrip()]
    for day, row in zip(DAYS, by_hour, strict=True):
        cells = "".join(SHADES[0 if not n else 1 + (n * (len(SHADES) - 2)) // top]
                        for n in row)
        lines.append(f"{day}  {cells}")
    return lines


def render(report: dict[str, Any]) -> str:
    out = [f"report {report['since']} .. {report['until']}"]
    for d in report["departments"]:
        ratio = d["sla_met_ratio"]
        kept = "-" if ratio is None else f"{ratio * 100:.1f} %"
        fr, wall = d["first_response_business_seconds"], d["first_response_wall_seconds"]
        backlog = d["backlog"]
        out += [
            "",
            f"{d['department']}: {d['tickets']} new tickets, "
            f"{d['customer_messages']} customer messages",
            f"  promise kept {kept}: {d['answered_in_time']} answered in time, "
            f"{d['answered_late']} late, {d['unanswered_overdue']} unanswered past due",
            f"  first response: median {span(fr['median'])}, p90 {span(fr['p90'])} "
            f"business time (wall clock {span(wall['median'])}, {span(wall['p90'])})",
            f"  backlog: {backlog['open']} open, oldest unanswered since "
            f"{backlog['oldest_unanswered_since'] or '-'}",
            "  agents: " + (", ".join(
                f"{a['agent']} {a['answers']} "
                f"(median {span(a['median_response_business_seconds'])})"
                for a in d["agents"]) or "-"),
            "  languages: " + (", ".join(f"{k} {v}" for k, v in d["languages"].items()) or "-"),
            f"  escalations {d['escalations']}, reopened {d['reopened']}"
            + (f" ({d['reopen_rate'] * 100:.0f} % of closed)" if d["reopen_rate"] else "")
            + f", solved by the FAQ {d['solved_by_faq']}",
            *_feedback(d.get("feedback")),
            "  customer messages by hour of the week:",
            *("    " + line for line in heat_map(d["by_hour"])),
        ]
    return "\n".join(out)


def _feedback(f: dict[str, Any] | None) -> list[str]:
    if not f or not f["asked"]:
        return []
    grades = " ".join(f"{g}:{n}" for g, n in f["by_grade"].items())
    mean = "-" if f["mean"] is None else f"{f['mean']:.1f}"
    lines = [f"  feedback: asked {f['asked']}, answered {f['answered']} "
             f"({f['response_rate'] * 100:.0f} %), mean {mean} of 5 ({grades})"]
    lines += [f"    {a['agent']}: {a['answered']}/{a['asked']} answered, mean "
              f"{'-' if a['mean'] is None else format(a['mean'], '.1f')}" for a in f["agents"]]
    return lines

