"""`linkage check` alerts: its verdict posted to a webhook (a local HTTP server the test starts) on a change
of status and on every critical check, Slack-compatible by default, with owners and tags from the model's
meta; retries and a time budget that never make the check hang; the URL never printed; the previous
status kept in a state file, so a read-only database (a hot standby) alerts as well."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from delivery_linkage_devtools.testing import runbook_world
from delivery_linkage_devtools.testing import world as w

LINKAGE = str(Path(sys.executable).with_name("linkage"))
SECRET = "T0000/B0000/s3cr3t-token-never-printed"


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each POST with the next status of `statuses` (the last one
    repeats), after `delay` seconds; keeps every body."""

    def __init__(self, statuses=(200,), delay: float = 0.0) -> None:
        self.statuses, self.delay = list(statuses), delay
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.bodies.append(body)
                receiver.headers.append(dict(self.headers))
                time.sleep(receiver.delay)
                status = receiver.statuses[min(len(receiver.bodies), len(receiver.statuses)) - 1]
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"ok" if status < 300 else b"no")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/services/{SECRET}"

    def json_bodies(self) -> list[dict]:
        return [json.loads(body) for body in self.bodies]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def check(settings, receiver: Receiver | None, state_file: Path, *args: str, extra_env: dict | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env |= settings.libpq_env() | {"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    if receiver is not None:
        env["LINKAGE_ALERT_WEBHOOK_URL"] = receiver.url
    env |= extra_env or {}
    command = [LINKAGE, "check", "--json", "--state-file", str(state_file), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    return result, json.loads(result.stdout.strip().splitlines()[-1])


def make_defects(db, count: int) -> None:
    """`count` linkable-but-NULL deliveries: guests linked while the triggers were off."""
    runbook_world.build(db, count, count)


def test_a_change_of_status_posts_one_slack_body_naming_owners_and_tags(modeled_app_db, modeled_db, tmp_path):
    state = tmp_path / "state.json"
    runbook_world.build(modeled_db, 300, 0)
    with Receiver() as receiver:
        _, healthy = check(modeled_app_db, receiver, state)
        _, again = check(modeled_app_db, receiver, state)
        assert receiver.bodies == []  # healthy, twice: nothing to say
        make_defects(modeled_db, 1)  # 1 of 301: a warning
        w.count_categories(modeled_db)  # the hourly dbt build counts the categories the alert lists
        result, warning = check(modeled_app_db, receiver, state)
        _, unchanged = check(modeled_app_db, receiver, state)

    assert (healthy["status"], healthy["alert"]["due"]) == ("healthy", False)
    assert again["alert"]["previous_status"] == "healthy"
    assert result.returncode == 1 and warning["status"] == "warning"
    assert warning["alert"] | {"state_file": None} == {
        "due": True, "reason": "status changed from healthy to warning", "previous_status": "healthy", "sent": True,
        "attempts": 1, "http_status": 200, "error": None, "state_file": None,
    }  # fmt: skip
    assert unchanged["alert"]["due"] is False and len(receiver.bodies) == 1
    body = receiver.json_bodies()[0]
    assert receiver.headers[0]["Content-Type"] == "application/json"
    assert body["text"].startswith("delivery_linkage WARNING: 1 of 301 deliveries linkable but NULL")
    assert "owners: @data-team" in body["text"]
    blocks = json.dumps(body["blocks"])
    assert body["blocks"][0]["type"] == "header" and "WARNING" in body["blocks"][0]["text"]["text"]
    assert "*Owners*\\n@data-team" in blocks and "linkage, integrity, message-visibility" in blocks
    assert "`linkable_null` 1" in blocks and "Runbook's figure" in blocks
    assert json.loads(state.read_text())["databases"]


def test_every_critical_check_posts_again(modeled_app_db, modeled_db, tmp_path):
    state = tmp_path / "state.json"
    runbook_world.build(modeled_db, 71, 3)  # 4.23 %
    with Receiver() as receiver:
        first = check(modeled_app_db, receiver, state)
        second = check(modeled_app_db, receiver, state)
    assert [r.returncode for r, _ in (first, second)] == [2, 2]
    assert [data["alert"]["reason"] for _, data in (first, second)] == ["critical", "critical"]
    assert len(receiver.bodies) == 2


def test_a_failing_receiver_is_retried_then_the_failure_is_reported_and_the_status_kept(
    modeled_app_db, modeled_db, tmp_path
):
    state = tmp_path / "state.json"
    make_defects(modeled_db, 2)
    with Receiver(statuses=(503, 503, 200)) as flaky:
        _, recovered = check(modeled_app_db, flaky, state)
    assert (recovered["alert"]["sent"], recovered["alert"]["attempts"], len(flaky.bodies)) == (True, 3, 3)

    state.unlink()
    with Receiver(statuses=(500,)) as broken:
        result, failed = check(modeled_app_db, broken, state, "--alert-retries", "1")
        assert result.returncode == 2  # the verdict, whatever happened to the alert
        assert failed["alert"] | {"state_file": None} == {
            "due": True, "reason": "critical", "previous_status": None, "sent": False, "attempts": 2,
            "http_status": 500, "error": "HTTP 500", "state_file": None,
        }  # fmt: skip
        assert "alert not delivered: HTTP 500" in result.stderr
        assert not state.exists()  # not recorded: the next check alerts again
    with Receiver() as back:
        _, next_check = check(modeled_app_db, back, state)
    assert next_check["alert"]["sent"] and len(back.bodies) == 1


def test_a_receiver_that_never_answers_cannot_make_the_check_hang(modeled_app_db, modeled_db, tmp_path):
    make_defects(modeled_db, 2)
    with Receiver(delay=60) as silent:
        started = time.monotonic()
        result, data = check(modeled_app_db, silent, tmp_path / "state.json", "--alert-timeout", "1.5")
        elapsed = time.monotonic() - started
    assert result.returncode == 2 and data["alert"]["sent"] is False
    assert "1.5 s" in data["alert"]["error"] or data["alert"]["error"] == "timed out"
    assert elapsed < 15, elapsed  # the check itself takes a few seconds; the alert at most 1.5 more


def test_the_webhook_url_is_never_printed(modeled_app_db, modeled_db, tmp_path):
    make_defects(modeled_db, 2)
    with Receiver(statuses=(404,)) as receiver:
        json_run, _ = check(modeled_app_db, receiver, tmp_path / "state.json")
        env = {"LINKAGE_ALERT_WEBHOOK_URL": receiver.url}
        text_run = subprocess.run(
            [LINKAGE, "check", "--state-file", str(tmp_path / "text.json")],
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")} | modeled_app_db.libpq_env() | env
            | {"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    for output in (json_run.stdout, json_run.stderr, text_run.stdout, text_run.stderr):
        assert "s3cr3t" not in output and "/services/" not in output
    assert "HTTP 404" in json_run.stderr
    bad = subprocess.run(
        [LINKAGE, "check", "--json"],
        env=dict(os.environ) | modeled_app_db.libpq_env() | {"LINKAGE_ALERT_WEBHOOK_URL": "hooks.example/s3cr3t"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 64 and "LINKAGE_ALERT_WEBHOOK_URL" in bad.stderr
    assert "s3cr3t" not in bad.stderr + bad.stdout


def test_a_template_gives_another_receiver_its_own_body(modeled_app_db, modeled_db, tmp_path):
    template = tmp_path / "teams.json.j2"
    template.write_text(
        '{"title": {{ ("Delivery integrity " ~ status) | tojson }}, "reason": {{ reason | tojson }}, '
        '"owners": {{ owners | tojson }}, "defects": {{ report.categories.linkable_null }}}'
    )
    make_defects(modeled_db, 2)
    w.count_categories(modeled_db)  # the hourly dbt build counts the categories the template reads
    with Receiver() as receiver:
        _, data = check(modeled_app_db, receiver, tmp_path / "state.json", "--alert-template", str(template))
    assert data["alert"]["sent"]
    assert receiver.json_bodies() == [
        {"title": "Delivery integrity critical", "reason": "critical", "owners": ["@data-team"], "defects": 2}
    ]


def test_a_read_only_standby_alerts_on_a_change_of_status(modeled_app_db, modeled_db, tmp_path):
    """The previous status is in the state file, not the database: a check whose every transaction is
    read-only (PGOPTIONS, as on a hot standby) still knows what changed."""
    read_only = {"PGOPTIONS": "-c default_transaction_read_only=on"}
    state = tmp_path / "state.json"
    runbook_world.build(modeled_db, 300, 0)
    with Receiver() as receiver:
        _, first = check(modeled_app_db, receiver, state, extra_env=read_only)
        make_defects(modeled_db, 1)
        _, second = check(modeled_app_db, receiver, state, extra_env=read_only)
    assert first["status"] == "healthy" and first["alert"]["due"] is False
    assert second["alert"]["reason"] == "status changed from healthy to warning" and second["alert"]["sent"]


@pytest.mark.parametrize("previous", [None, "healthy", "warning", "critical"])
@pytest.mark.parametrize("current", ["healthy", "warning", "critical"])
def test_an_alert_is_due_on_a_change_and_on_every_critical_check(previous, current):
    from delivery_linkage.operations.alerts import alert_reason

    due = alert_reason(previous, current) is not None
    assert due == (current == "critical" or (previous or "healthy") != current)
