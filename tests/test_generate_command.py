"""`linkage generate` writes the asked-for history into the database the libpq variables name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from delivery_linkage_devtools.testing import world as w

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


def test_generate_twice_with_one_seed_points_to_seed_and_fresh_without_traceback(app_db, db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(app_db.libpq_env())

    def generate(*args: str) -> subprocess.CompletedProcess:
        command = [LINKAGE, "generate", "--deliveries", "500", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert generate("--seed", "7").returncode == 0
    total = db.execute("select count(*) from message_deliveries").fetchone()[0]

    again = generate("--seed", "7")
    assert again.returncode == 3
    assert "Traceback" not in again.stderr and "UniqueViolation" not in again.stderr
    message = " ".join(again.stderr.split())
    assert "already holds the world of seed 7" in message and "--seed 8" in message and "--fresh" in message
    assert db.execute("select count(*) from message_deliveries").fetchone()[0] == total  # nothing written

    assert generate("--seed", "8").returncode == 0  # the fix it names works
    assert db.execute("select count(*) from message_deliveries").fetchone()[0] > total
