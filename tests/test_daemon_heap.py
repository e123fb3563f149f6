"""A started daemon keeps what it built to run (modules, classes, configuration) out of
its later garbage collections: each full collection, which a busy ingest starts every
few batches, then walks only the objects of the mail at hand."""

from __future__ import annotations

import gc
from pathlib import Path

from mailticket.daemon import Daemon
from tests.corpora import throwaway_app


def test_a_started_daemons_collections_walk_only_what_came_after(tmp_path: Path):
    app = throwaway_app(tmp_path)
    gc.unfreeze()
    daemon = Daemon(app)
    daemon.start()
    try:
        gc.collect()
        assert gc.get_freeze_count() > 20_000  # the modules' functions, classes …
        assert len(gc.get_objects()) < gc.get_freeze_count() / 2
    finally:
        daemon.stop()
        app.close()
