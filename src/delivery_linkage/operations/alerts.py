"""Alerts: `linkage check` posts its verdict to a webhook when the status changed since the previous
check of the same database, and on every critical check.

- The URL comes from the environment variable LINKAGE_ALERT_WEBHOOK_URL (a chat webhook URL holds its
  secret in its path): never from the command line, never printed or logged, not even in errors.
- The body is a Jinja2 template rendered with the check's figures: by default a Slack-compatible JSON
  body (templates/alert_slack.json.j2: `text` for any Slack-compatible receiver, `blocks` for Slack);
  `--alert-template FILE` for any other receiver (Teams, Discord, PagerDuty, a ticketing API).
- Retries (connection errors, timeouts, HTTP 408, 429 and 5xx) with backoff inside one time budget
  (`--alert-timeout`, default 10 s): the post runs in a daemon thread that the check waits for at most
  that long, so no receiver, however slow, can make the check hang; the check's exit code is its
  verdict whatever happened to the alert (a failure to deliver is printed on stderr and in the JSON).
- The previous status lives in a state file on the machine that runs the check (not in the database:
  the check is read-only and runs against a hot standby too): `--state-file`, else LINKAGE_STATE_FILE,
  else $XDG_STATE_HOME/delivery_linkage/check-state.json (~/.local/state/…). One entry per database
  (host, port, database name). It is updated after a check when no alert was due or the alert was
  delivered; after a failed delivery it keeps the previous status, so the next check alerts again.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from delivery_linkage import __version__

WEBHOOK_VARIABLE = "LINKAGE_ALERT_WEBHOOK_URL"
STATE_FILE_VARIABLE = "LINKAGE_STATE_FILE"
DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "alert_slack.json.j2"
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2
RETRIED_HTTP_STATUSES = {408, 425, 429}  # and every 5xx


class AlertSetupError(ValueError):
    """The alert settings are unusable (bad URL, bad template); the message names what is allowed."""


def default_state_file() -> Path:
    if os.environ.get(STATE_FILE_VARIABLE):
        return Path(os.environ[STATE_FILE_VARIABLE])
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "delivery_linkage" / "check-state.json"


def webhook_url(environ: dict[str, str] | None = None) -> str | None:
    """The webhook URL from LINKAGE_ALERT_WEBHOOK_URL, None when unset or empty; AlertSetupError when it
    is not an http(s) URL with a host (the message never repeats the value)."""
    from urllib.parse import urlsplit

    value = ((os.environ if environ is None else environ).get(WEBHOOK_VARIABLE) or "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        valid = False
    if not valid:
        raise AlertSetupError(
            f"{WEBHOOK_VARIABLE} is not a usable URL (its value is not shown: it may hold a secret); "
            "allowed: an http:// or https:// URL with a host, or unset to send no alert"
        )
    return value


def load_template(path: Path | None):
    """The body template (Jinja2), compiled: AlertSetupError naming the file and the error when it is
    unreadable or not a valid template."""
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    path = Path(path) if path else DEFAULT_TEMPLATE
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AlertSetupError(f"cannot read the alert template {path}: {error}") from None
    environment = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    try:
        return environment.from_string(source)
    except TemplateSyntaxError as error:
        raise AlertSetupError(f"the alert template {path} is not a valid Jinja2 template: line {error.lineno}: "
                              f"{error.message}") from None


@dataclass
class AlertSettings:
    url: str
    template_path: Path | None = None
    state_file: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    content_type: str = "application/json"


@dataclass
class AlertOutcome:
    """What happened to the alert of one check (the JSON's `alert` object)."""

    due: bool
    reason: str | None
    previous_status: str | None
    sent: bool = False
    attempts: int = 0
    http_status: int | None = None
    error: str | None = None
    state_file: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# --- the previous status --------------------------------------------------------------------------------


def database_key(settings) -> str:
    """Which database a state entry is for: host, port and name (no user, no password)."""
    return f"{settings.host}:{settings.port}/{settings.dbname}"


def read_state(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"databases": {}}
    if not isinstance(data, dict) or not isinstance(data.get("databases"), dict):
        return {"databases": {}}
    return data


def previous_status(path: Path, key: str) -> str | None:
    entry = read_state(path)["databases"].get(key)
    return entry.get("status") if isinstance(entry, dict) else None


def write_state(path: Path, key: str, status: str, checked_at: datetime, alerted: bool) -> None:
    """Records the status of this check for `key`, atomically (a temporary file renamed over it)."""
    data = read_state(path)
    entry = data["databases"].get(key) if isinstance(data["databases"].get(key), dict) else {}
    entry = {**entry, "status": status, "checked_at": checked_at.isoformat()}
    if alerted:
        entry["alerted_at"] = datetime.now(UTC).isoformat()
    data["databases"][key] = entry
    data["version"] = 1
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)


def alert_reason(previous: str | None, current: str) -> str | None:
    """Why this check alerts, or None: every critical check; a change of status; a first check (no
    previous status) that is not healthy."""
    if current == "critical":
        return "critical" if previous in (None, "critical") else f"status changed from {previous} to critical"
    if previous is None:
        return None if current == "healthy" else f"first check: {current}"
    if previous != current:
        return f"status changed from {previous} to {current}"
    return None


# --- the body ------------------------------------------------------------------------------------------


def render_body(template, report, database: str, reason: str, previous: str | None) -> str:
    figures = report.as_dict()
    context = {
        "report": figures,
        "status": report.status,
        "previous_status": previous,
        "reason": reason,
        "database": database,
        "owners": list(report.owners),
        "tags": list(report.tags),
        "categories": [asdict(category) for category in report.categories],
        "problems": report.problems,
        "version": __version__,
    }
    return template.render(**context)


# --- the post ------------------------------------------------------------------------------------------


def _describe_error(error: BaseException) -> str:
    """The error without the URL (urllib's messages never carry it; reason objects might)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        return f"{type(reason).__name__}: {reason.strerror}" if isinstance(reason, OSError) and reason.strerror else (
            type(reason).__name__ if not isinstance(reason, str) else "connection failed"
        )
    if isinstance(error, TimeoutError):
        return "timed out"
    return type(error).__name__


def post(url: str, body: bytes, content_type: str, timeout: float, retries: int) -> AlertOutcome:
    """POSTs body to url, retrying within `timeout` seconds in all; returns after at most that long."""
    outcome = AlertOutcome(due=True, reason=None, previous_status=None)
    deadline = time.monotonic() + timeout
    done = threading.Event()

    def attempt_all() -> None:
        delay = 0.25
        for attempt in range(retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            outcome.attempts = attempt + 1
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": content_type, "User-Agent": f"delivery_linkage/{__version__}"},
            )
            retry = True
            try:
                with urllib.request.urlopen(request, timeout=max(0.05, remaining)) as response:  # noqa: S310
                    outcome.http_status = response.status
                    outcome.sent, outcome.error = True, None
                    break
            except urllib.error.HTTPError as error:
                outcome.http_status = error.code
                outcome.error = _describe_error(error)
                retry = error.code in RETRIED_HTTP_STATUSES or error.code >= 500
            except Exception as error:  # noqa: BLE001 - connection refused, DNS, TLS, timeout: retried
                outcome.error = _describe_error(error)
            if not retry or attempt == retries:
                break
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay *= 2
        done.set()

    worker = threading.Thread(target=attempt_all, name="linkage-alert", daemon=True)
    worker.start()
    if not done.wait(timeout):
        outcome.sent = False
        outcome.error = f"no answer within {timeout:g} s (after {outcome.attempts} attempts)"
    return outcome


def alert(report, settings, alert_settings: AlertSettings) -> AlertOutcome:
    """Posts the check's verdict when due (see alert_reason) and records its status in the state file."""
    state_file = alert_settings.state_file or default_state_file()
    key = database_key(settings)
    previous = previous_status(state_file, key)
    reason = alert_reason(previous, report.status)
    outcome = AlertOutcome(due=reason is not None, reason=reason, previous_status=previous, state_file=str(state_file))
    if reason is not None:
        database = f"{settings.dbname} ({settings.host}:{settings.port})"
        try:
            body = render_body(load_template(alert_settings.template_path), report, database, reason, previous)
            if alert_settings.content_type == "application/json":
                json.loads(body)  # a template that renders invalid JSON fails here, not at the receiver
        except Exception as error:  # noqa: BLE001 - a template's error at render time, invalid JSON
            outcome.error = f"the alert body could not be rendered: {type(error).__name__}: {error}"
            return outcome
        delivery = post(
            alert_settings.url,
            body.encode("utf-8"),
            alert_settings.content_type,
            alert_settings.timeout,
            alert_settings.retries,
        )
        outcome.sent, outcome.attempts = delivery.sent, delivery.attempts
        outcome.http_status, outcome.error = delivery.http_status, delivery.error
        if not outcome.sent:
            return outcome  # the previous status is kept: the next check alerts again
    try:
        write_state(state_file, key, report.status, report.check_timestamp, alerted=outcome.sent)
    except OSError as error:
        outcome.error = (outcome.error + "; " if outcome.error else "") + f"state file not written: {error}"
    return outcome
