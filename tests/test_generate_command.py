"""`linkage generate` writes the asked-for history into the database the libpq variables name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import world as w

LINKAGE = str(Path(sys.executable).with_name("linkage"))


def test_generate_writes_history_with_linkable_null_deliveries(app_db, db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(app_db.libpq_env())
    result = subprocess.run(
        [LINKAGE, "generate", "--deliveries", "3000", "--seed", "7"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "message_deliveries" in result.stdout
    total = db.execute("select count(*) from message_deliveries").fetchone()[0]
    assert abs(total - 3000) <= 60
    assert w.linkable_null_count(db) > 0
    refused = subprocess.run(
        [LINKAGE, "generate", "--deliveries", "10", "--fresh"], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 3 and "only on the embedded server" in refused.stderr
