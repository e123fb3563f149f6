"""Files that hold customers' mail are the owner's alone.

Every file mailticket writes (the SQLite database and its -wal/-shm companions,
the outgoing maildir, exports, reports) holds personal data.  The process umask is
set to 077 when a command starts, so they are created 0600 (folders 0700) whatever
umask the shell or the service manager handed over; files that already exist with
wider modes are named once, with the command that fixes them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def make_private() -> None:
    """From now on, files and folders this process creates are readable by its owner only."""
    os.umask(PRIVATE_UMASK)


def sqlite_files(url: str) -> list[Path]:
    """The files of a SQLite database URL (none for an in-memory or server database)."""
    from sqlalchemy.engine import make_url  # here: ``mailticket --help`` needs no SQLAlchemy

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return []
    main = Path(u.database)
    return [main, *(main.with_name(main.name + s) for s in ("-wal", "-shm"))]


def readable_by_others(path: Path) -> bool:
    """True when the group or other accounts may read or write the file."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


def loose_files(paths: list[Path]) -> list[str]:
    """One warning per existing file that others can read, with the fix."""
    return [f"{p} is readable by other accounts ({stat.filemode(p.stat().st_mode)}): "
            f"it holds customers' mail; fix with: chmod 600 {p}"
            for p in paths if readable_by_others(p)]
