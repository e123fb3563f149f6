"""``--html FILE``: one self-contained page, charts drawn by matplotlib as inline SVG.

No network, no JavaScript: the SVG is written into the page, the styles are inline.
Only ``--html`` imports matplotlib (it is slow to import).
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

from mailticket.report.figures import IN_TIME, LATE, OVERDUE, Figures
from mailticket.report.text import DAYS

STYLE = """body{font-family:sans-serif;margin:2em;color:#222;max-width:72em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}figure{margin:1em 0}
figcaption{font-size:.9em;color:#555}table{border-collapse:collapse}
td,th{padding:.2em .6em;text-align:right;border-bottom:1px solid #ddd}"""


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _figure(width: float = 9, height: float = 3) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96)


def _chart(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def heat_map(by_hour: list[list[int]]) -> str:
    fig = _figure(9, 2.8)
    ax = fig.subplots()
    image = ax.imshow(by_hour, aspect="auto", cmap="Blues", interpolation="nearest")
    ax.set_yticks(range(7), DAYS)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("hour of the day")
    fig.colorbar(image, ax=ax, label="customer messages")
    return _svg(fig)


def daily(by_day: dict[str, int]) -> str:
    fig = _figure()
    ax = fig.subplots()
    days = sorted(by_day)
    ax.bar(range(len(days)), [by_day[d] for d in days], color="#3b75af")
    step = max(1, len(days) // 12)
    ax.set_xticks(range(0, len(days), step), days[::step], rotation=30, ha="right")
    ax.set_ylabel("customer messages")
    return _svg(fig)


def first_response(seconds: Sequence[float], promise_hours: float | None) -> str:
    fig = _figure()
    ax = fig.subplots()
    hours = [s / 3600 for s in seconds]
    ax.hist(hours or [0], bins=40, color="#3b75af", alpha=0.9 if hours else 0)
    if promise_hours is not None:
        ax.axvline(promise_hours, color="#c0392b", linestyle="--", label="the promise")
        ax.legend()
    ax.set_xlabel("first response, business hours")
    ax.set_ylabel("tickets")
    return _svg(fig)


def weekly_share(weekly: dict[str, Any]) -> str:
    fig = _figure()
    ax = fig.subplots()
    weeks = sorted(weekly)
    shares = []
    for w in weeks:
        c = weekly[w]
        total = c[IN_TIME] + c[LATE] + c[OVERDUE]
        shares.append(100 * c[IN_TIME] / total if total else 0)
    ax.bar(range(len(weeks)), shares, color="#2e8b57")
    ax.set_xticks(range(len(weeks)), [f"week of {w}" for w in weeks], rotation=30, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("% kept")
    return _svg(fig)


def roster(needed: list[list[int]], on_duty: list[list[int]]) -> str:
    fig = _figure(10, 3.2)
    ax = fig.subplots()
    flat = [n for row in needed for n in row]
    current = [n for row in on_duty for n in row]
    ax.bar(range(168), flat, width=1.0, color="#3b75af", label="agents needed")
    ax.step(range(168), current, where="mid", color="#c0392b", label="current roster")
    ax.set_xticks(range(0, 168, 24), DAYS, ha="left")
    ax.set_xlim(-0.5, 167.5)
    ax.set_ylabel("agents on duty")
    ax.legend()
    return _svg(fig)


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>" + "".join(body) + "</body></html>\n")


def report_page(data: dict[str, Any], figs: Sequence[Figures],
                promise_hours: dict[str, float | None]) -> str:
    """The report of ``report --json`` as a page, with its charts."""
    body = []
    for d, fig in zip(data["departments"], figs, strict=True):
        ratio = d["sla_met_ratio"]
        kept = "-" if ratio is None else f"{ratio * 100:.1f} %"
        body += [
            f"<h2>{html.escape(d['department'])}</h2>",
            "<table><tr><th>new tickets</th><th>customer messages</th><th>in time</th>"
            "<th>late</th><th>unanswered past due</th><th>promise kept</th></tr>"
            f"<tr><td>{d['tickets']}</td><td>{d['customer_messages']}</td>"
            f"<td>{d['answered_in_time']}</td><td>{d['answered_late']}</td>"
            f"<td>{d['unanswered_overdue']}</td><td>{kept}</td></tr></table>",
            _chart(heat_map(d["by_hour"]), "Customer messages by hour of the week"),
            _chart(daily(d["by_day"]), "Customer messages per day"),
            _chart(first_response([t.total_seconds() for t in fig.first_response],
                                  promise_hours.get(d["department"])),
                   "First response per ticket, business time, against the promise"),
            _chart(weekly_share(fig.weekly), "Share of messages answered by their due "
                   "instant, per week of arrival"),
        ]
    return _page(f"mailticket report {data['since']} .. {data['until']}", body)


def staffing_page(data: dict[str, Any]) -> str:
    """The staffing of ``staffing --json`` as a page."""
    body = []
    for d in data["departments"]:
        worst = d["worst_day"]
        body += [
            f"<h2>{html.escape(d['department'])}</h2>",
            f"<p>Last {d['weeks']} weeks, {d['customer_messages']} customer messages; "
            f"handle time {d['handle_time_seconds'] / 60:g} min ({d['handle_time_source']}). "
            f"The roster below keeps {d['kept_ratio'] * 100:.1f} % of mail in time "
            f"(target {d['target'] * 100:g} %); the current "
            f"{d['current']['agents_on_duty']} on duty keep "
            f"{d['current']['kept_ratio'] * 100:.1f} %."
            + (f" Worst day: {worst['weekday']} {worst['date']}." if worst else "") + "</p>",
            _chart(roster(d["needed"], d["current"]["roster"]),
                   "Agents needed per hour of the week beside the current roster"),
        ]
    return _page("mailticket staffing", body)
