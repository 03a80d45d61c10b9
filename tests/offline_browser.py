"""Headless Chromium (Debian's package, never a download) with the network off, for the report and the
Data Docs: every page is opened in a network namespace of its own (`unshare --net`: no interface but a
downed loopback, so no request can leave the machine) and Chromium's own network log is kept, so a test
can also prove the page asked for nothing outside (`page_requests`: each URL the page, not the browser's
background services, tried to fetch)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UNSHARE = shutil.which("unshare")
LAYOUT_CHECK = Path(__file__).with_name("report_layout_check.js")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--disable-spell-checking", "--no-pings",
]  # fmt: skip


def network_off_prefix() -> list[str]:
    """`unshare --net` (as root), or `unshare --user --net` (an unprivileged user namespace), whichever this
    machine allows; [] when neither (the network log still proves what the page asked for)."""
    if UNSHARE is None:
        return []
    for prefix in ([UNSHARE, "--net"], [UNSHARE, "--user", "--map-root-user", "--net"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return []


def open_page(page: Path, profile: Path, *args: str, timeout: float = 90) -> tuple[str, list[str]]:
    """Opens `page` (a file) with the network off; returns (stdout, URLs the page itself requested)."""
    netlog = profile.parent / f"{profile.name}-netlog.json"
    command = [
        *network_off_prefix(), CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}", *args,
        page.as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    return result.stdout, page_requests(netlog)


def page_requests(netlog: Path) -> list[str]:
    """The URLs requested by the page: URL requests whose initiator is an origin (a page; file:// pages are
    the opaque origin "null"). Chromium's own background requests (update checks, network time) have no
    origin ("not an origin") and are not the page's doing."""
    text = netlog.read_text()
    if not text.rstrip().endswith("}"):  # Chromium may leave the log's closing brackets out
        text = text.rstrip().rstrip(",") + "]}"
    log = json.loads(text)
    types = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    return [
        event["params"]["url"]
        for event in log["events"]
        if types.get(event["type"]) == "URL_REQUEST_START_JOB"
        and event.get("params", {}).get("initiator", "not an origin") != "not an origin"
    ]


def dump_dom(page: Path, profile: Path, *args: str) -> tuple[str, list[str]]:
    return open_page(page, profile, "--dump-dom", *args)


def layout_problems(page: Path, profile: Path, width: int) -> dict:
    """tests/report_layout_check.js run on a copy of `page` at `width`: its verdict (problems, checked)."""
    checked = page.with_name(page.stem + f".layout-{width}.html")
    html = page.read_text(encoding="utf-8")
    checked.write_text(html.replace("</body>", f"<script>{LAYOUT_CHECK.read_text()}</script></body>"))
    dom, _ = dump_dom(checked, profile, f"--window-size={width},1200")
    verdict = re.search(r'<pre id="layout-check">(\{.*?\})</pre>', dom, re.S)
    assert verdict, "the layout check did not run"
    return json.loads(unescape(verdict.group(1)))
