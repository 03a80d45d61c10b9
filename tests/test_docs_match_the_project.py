"""The docs cannot go stale: every figure on README.md, docs/ and bench/ is either written by the command
that measures it (a generated block, rendered again here from the committed results file) or checked
here against the project (the design map against the tree, the files and objects it names against the
repository and the deployed database, the counts in prose against their one definition).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest

from delivery_linkage_devtools import CHECKOUT_DIR, doc_blocks, markers
from delivery_linkage_devtools.bench import scale
from delivery_linkage_devtools.concurrency import report as concurrency_report
from delivery_linkage_devtools.interleavings import operations, space
from delivery_linkage_devtools.interleavings import report as interleavings_report

ROOT = CHECKOUT_DIR
README = ROOT / "README.md"
DESIGN = ROOT / "docs" / "design.md"
PAGES = sorted([README, *(ROOT / "docs").glob("*.md"), *(ROOT / "bench").glob("*.md")]) + [
    ROOT / "tests" / "reliability" / "STRESS_RESULTS.md"
]
CODE_SUFFIXES = {".sql", ".py", ".yml", ".yaml", ".json", ".js", ".j2", ".css", ".html", ".cfg", ".toml"}
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [Path(line) for line in listed.splitlines() if (ROOT / line).exists()]


def folders_with_code(under: Path | None = None) -> set[str]:
    """Folders (directly under `under`, or top-level) that hold a tracked code file at any depth."""
    found = set()
    for path in tracked_files():
        if path.suffix not in CODE_SUFFIXES:
            continue
        parts = path.parts
        if under is None:
            if len(parts) > 1:
                found.add(parts[0])
        elif parts[: len(under.parts)] == under.parts and len(parts) > len(under.parts) + 1:
            found.add(parts[len(under.parts)])
    return {name for name in found if not name.startswith((".", "__", "_"))}


def section(text: str, heading: str) -> str:
    """A `## heading` section of a page, up to the next `## `."""
    start = text.index(f"## {heading}\n")
    stop = text.find("\n## ", start + 1)
    return text[start : stop if stop >= 0 else len(text)]


def design_map() -> str:
    where = section(DESIGN.read_text(), "Where things are")
    return where[where.index("```") : where.rindex("```")]


# --- the design map against the tree ----------------------------------------------------------------


def map_entries() -> set[str]:
    """The top-level names the map's left column lists (a line's columns are apart by two spaces or more)."""
    entries = set()
    for line in design_map().splitlines()[1:]:
        if line.startswith(" "):
            continue
        for column in re.split(r"\s{2,}", line):
            head = column.split("/")[0]
            if "/" in column and re.fullmatch(r"[\w-]+", head):
                entries.add(head)
    return entries


def test_the_design_map_names_every_top_level_folder_that_holds_code():
    names = map_entries()
    missing = sorted(folders_with_code() - names)
    assert folders_with_code() >= {"macros", "models", "data-tests", "src", "devtools", "tests", "bench", "gx"}
    assert not missing, f"docs/design.md's map leaves out {missing}"


@pytest.mark.parametrize(
    "folder",
    ["macros", "models", "src/delivery_linkage", "devtools/src/delivery_linkage_devtools"],
)
def test_the_design_map_names_every_subfolder_of_the_code(folder):
    text = design_map()
    subfolders = folders_with_code(Path(folder))
    missing = sorted(name for name in subfolders if not re.search(rf"(?<![\w-]){re.escape(name)}\b", text))
    assert subfolders and not missing, f"docs/design.md's map leaves out {folder}/{missing}"


def test_every_path_the_design_map_names_exists():
    text = design_map()
    named = re.findall(r"(?<![\w/.-])((?:[\w.-]+/)+[\w.-]*)", text)
    named += re.findall(r"(?<![\w/.-])([\w-]+\.(?:sql|py|yml|md))\b", text)
    assert len(named) > 20
    missing = sorted(
        path
        for path in set(named)
        if not (ROOT / path).exists() and not any((folder / path).exists() for folder in design_map_parents(text, path))
    )
    assert not missing, f"docs/design.md's map names what the repository does not have: {missing}"


def design_map_parents(text: str, path: str) -> list[Path]:
    """Where a relative name of the map may be: under the folder its line (or the line it continues) opens."""
    parents = []
    for line in text.splitlines():
        if path in line:
            head = line.split()[0] if line.strip() and not line.startswith(" ") else None
            if head and head.endswith("/"):
                parents.append(ROOT / head)
    return parents + [
        ROOT / "src" / "delivery_linkage",
        ROOT / "devtools" / "src" / "delivery_linkage_devtools",
        ROOT / "bench",
        ROOT / "tests",
        ROOT / "models",
    ]


# --- every file and link the pages name --------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_file_a_page_names_exists(page):
    text = page.read_text()
    missing = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"\w+://", target):
            continue
        if not (page.parent / target).exists():
            missing.append(target)
    for path in re.findall(
        r"`((?:macros|models|src|devtools|tests|bench|scripts|data-tests|analyses|gx)/[\w./-]+)`", text
    ):
        if not (ROOT / path.rstrip("/")).exists():
            missing.append(path)
    assert not missing, f"{page.relative_to(ROOT)} names what the repository does not have: {missing}"


# --- the design's sequences against the code ----------------------------------------------------------


def deploy_statements() -> list[str]:
    source = (ROOT / "macros" / "deploy_machinery" / "deploy_linkage.sql").read_text()
    body = source[source.index("macro linkage_deploy_statements") :]
    body = body[: body.index("endmacro")]
    return re.findall(r"(\w+)\(ctx\)", body)[1:]  # after the macro's own name


def test_the_design_tells_the_deploys_steps_in_the_order_the_deploy_takes_them():
    steps = deploy_statements()
    deploy = section(DESIGN.read_text(), "The deploy")
    deploy = deploy[deploy.index("Then, in order") :]  # what it creates (before that, what it reads)
    told = [name for name in re.findall(r"`(\w+)`", deploy) if name in steps]
    told = list(dict.fromkeys(told))
    assert len(told) >= 5, told
    assert told == sorted(told, key=steps.index), f"docs/design.md tells the deploy as {told}; it runs {steps}"


TRIGGER_STEP = re.compile(r"`(trigger_\w+)`\s*\(([^)]*)\)\s*→\s*`(\w+)`", re.S)


def test_each_trigger_the_design_names_fires_when_it_says_and_calls_the_function_it_names():
    text = DESIGN.read_text()
    steps = TRIGGER_STEP.findall(text)
    assert len(steps) >= 4, steps
    for trigger, when, function in steps:
        macro = ROOT / "macros" / "deploy" / f"{trigger}.sql"
        assert macro.exists(), f"docs/design.md names {trigger}, which has no macro"
        source = macro.read_text().lower()
        assert f".{function}()" in source, f"{trigger} does not call {function}, as docs/design.md says"
        for word in ("before", "after"):
            if word.upper() in when:
                assert re.search(rf"'{word} (insert|update|delete)", source), f"{trigger} is not {word.upper()}"
        assert ("per statement" in when) == ("for each statement" in source), f"{trigger}: {when}"
        assert ("WHEN" in when) == ("when (" in source), f"{trigger}: docs/design.md says ({when})"


def test_the_design_tells_the_insert_the_guest_link_and_the_sweeper_each_in_one_section():
    text = DESIGN.read_text()
    for heading, names in {
        "A delivery insert": ("trigger_message_deliveries_auto_link_user", "audit_inserted_delivery_links"),
        "A guest link": ("trigger_backfill_deliveries_on_guest_link", "guest_link_queue", "backfill_guest_deliveries"),
        "A user's deletion": ("relink_deliveries_of_deleted_user",),
    }.items():
        part = section(text, heading)
        assert all(re.search(rf"`{name}[`(]", part) for name in names), heading
        assert part.count("\n") <= 40, f"docs/design.md's {heading!r} no longer fits on one screen"
    guarantee = " ".join(section(text, "The guarantee").split())
    assert "sweep interval plus the longest overlapping transaction" in guarantee
    assert "pg_cron" in guarantee and "`linkage sweep`" in guarantee


# --- what the design names against the deployed database -----------------------------------------------


def test_the_triggers_and_trigger_functions_the_design_names_are_exactly_those_the_deploy_creates(db):
    text = DESIGN.read_text()
    triggers = {
        name
        for (name,) in db.execute(
            """
            select trigger.tgname from pg_trigger as trigger
            join pg_class as relation on relation.oid = trigger.tgrelid
            where not trigger.tgisinternal and relation.relnamespace = 'public'::regnamespace
              and obj_description(trigger.oid, 'pg_trigger') like 'delivery_linkage%'
            """
        ).fetchall()
    }
    functions = {
        name
        for (name,) in db.execute(
            """
            select proc.proname from pg_proc as proc
            where proc.prorettype = 'trigger'::regtype
              and proc.pronamespace in ('public'::regnamespace, 'delivery_linkage'::regnamespace)
              and obj_description(proc.oid, 'pg_proc') like 'delivery_linkage%'
            """
        ).fetchall()
    }
    named = set(re.findall(r"`(trigger_\w+)`", text)) - functions
    assert triggers and triggers == named, f"deployed {sorted(triggers)}; docs/design.md names {sorted(named)}"
    unnamed = sorted(f for f in functions if f"`{f}`" not in text)
    assert functions and not unnamed, f"docs/design.md does not name the trigger functions {unnamed}"


def test_the_private_schemas_tables_are_those_the_design_lists(db):
    row = next(line for line in DESIGN.read_text().splitlines() if line.startswith("| private schema"))
    deployed = {
        name
        for (name,) in db.execute(
            "select relname from pg_class"
            " where relnamespace = 'delivery_linkage'::regnamespace and relkind in ('r', 'p')"
        ).fetchall()
    }
    unlisted = sorted(name for name in deployed if f"`{name}`" not in row)
    assert deployed and not unlisted, f"docs/design.md's private schema row leaves out {unlisted}"


# --- counts in prose against their one definition -------------------------------------------------------


def test_the_number_of_delivery_categories_the_pages_state_is_the_macros():
    source = (ROOT / "macros" / "metrics" / "linkage_delivery_categories.sql").read_text()
    count = len(re.findall(r"'name':\s*'\w+'", source))
    stated = []
    for page in (README, ROOT / "docs" / "metrics.md"):
        stated += [
            (page.name, word) for word in re.findall(r"\b(\w+) (?:named |delivery )?categories\b", page.read_text())
        ]
    stated = [(page, NUMBER_WORDS[word]) for page, word in stated if word in NUMBER_WORDS]
    assert stated and all(n == count for _, n in stated), f"{count} categories; the pages say {stated}"


def test_the_interleavings_page_counts_the_space_the_checker_enumerates():
    text = (ROOT / "bench" / "INTERLEAVINGS.md").read_text()
    n = len(operations.OPERATIONS)
    assert f"{n} operations, {n * (n + 1) // 2} unordered pairs" in text
    assert f"{len(space.LEVELS)} levels, each with `LINK_USER_BY_PHONE_FALLBACK_TO_USERS` off and on" in text
    assert len(space.FALLBACKS) == 2 and f"**{space.size():,} cases**" in text


def test_the_benchmark_page_states_the_targets_the_benchmark_judges():
    from delivery_linkage_devtools import bench

    table = (ROOT / "bench" / "README.md").read_text()
    table = table[table.index("| target | reference |") :]
    table = table[: table.index("\n\n")]
    for key, target in bench.TARGETS.items():
        value = target.text.split()[:2]
        assert " ".join(value) in table, f"bench/README.md does not state {key}'s target {target.text}"
    assert f"≤ {bench.AUDIT_TABLE_BYTES_PER_ATTEMPT:g} bytes" in table
    assert f"batches ≤ {bench.MAX_BATCH_SECONDS:g} s" in table


# --- the generated blocks against their renderers ---------------------------------------------------------


@pytest.mark.parametrize("block", doc_blocks.BLOCKS, ids=lambda b: f"{b.page.name}:{b.name}")
def test_each_generated_block_is_what_its_command_renders_from_its_results_file(block):
    assert block.current() == block.rendered(), (
        f"{block.page.relative_to(ROOT)}'s block {block.name} differs from {block.results.name}: run"
        f" `python -m delivery_linkage_devtools.doc_blocks {block.command!r}` (or `{block.command}`)"
    )


PAGES_WRITTEN_WHOLE = [
    ("bench/SCALE.md", "bench/results/scale.json", scale.markdown),
    ("bench/results/interleavings.md", "bench/results/interleavings.json", interleavings_report.markdown),
    ("bench/results/concurrency-quick.md", "bench/results/concurrency-quick.json", concurrency_report.markdown),
    ("bench/results/concurrency.md", "bench/results/concurrency.json", concurrency_report.markdown),
    ("bench/results/fallback-flipping.md", "bench/results/fallback-flipping.json", concurrency_report.markdown),
    ("bench/results/fallback-never-on.md", "bench/results/fallback-never-on.json", concurrency_report.markdown),
]


@pytest.mark.parametrize(
    "page, results, render", PAGES_WRITTEN_WHOLE, ids=lambda value: value if isinstance(value, str) else ""
)
def test_each_page_a_command_writes_whole_is_what_it_renders_from_its_results_file(page, results, render):
    assert (ROOT / page).read_text() == render(json.loads((ROOT / results).read_text()))


def test_every_generated_block_says_each_target_its_value_and_whether_the_results_say_it_was_met():
    document = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
    block = next(b for b in doc_blocks.BLOCKS if b.name == "bench")
    judged = [w for w in document["workloads"] if w.get("target")]
    assert judged
    for workload in judged:
        expected = f"{workload['target']['text']}: {workload['target_ratio']:.2f}×, " + (
            "met" if workload["met"] else "**missed**"
        )
        assert expected in block.rendered(document), workload["key"]
    flipped = copy.deepcopy(document)
    workload = next(w for w in flipped["workloads"] if w.get("target"))
    workload["met"] = not workload["met"]
    assert block.rendered(flipped) != block.rendered(document)

    concurrency = json.loads((ROOT / "bench" / "results" / "concurrency.json").read_text())
    page = next(b for b in doc_blocks.BLOCKS if b.name == "concurrency-figures").rendered(concurrency)
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in page.splitlines() if line.startswith("| ")}
    for target in concurrency["targets"]:
        verdict = {True: "| met |", False: "| **missed** |", None: "| not judged |"}[target["met"]]
        assert verdict in rows[target["target"]], target["target"]


def test_the_marker_writer_replaces_only_between_its_markers(tmp_path):
    page = tmp_path / "page.md"
    cell = markers.block("figure", "make figure", "old")
    table = markers.block("table", "make table", "| a |\n|---|\n| 1 |")
    page.write_text(f"# before\n\n| x | {cell} |\n\n{table}\n\nafter\n")
    assert markers.write(page, markers.block("figure", "make figure", "new"))
    assert markers.write(page, markers.block("table", "make table", "| a |\n|---|\n| 2 |"))
    text = page.read_text()
    assert text.startswith("# before\n\n| x | <!-- figure:begin") and text.endswith(
        "| 2 |\n<!-- table:end -->\n\nafter\n"
    )
    assert "new" in text and "old" not in text and "| 1 |" not in text and markers.names(text) == ["figure", "table"]
    assert not markers.write(page, markers.block("figure", "make figure", "new"))  # unchanged: not rewritten
    with pytest.raises(ValueError, match="no missing markers"):
        markers.write(page, markers.block("missing", "make missing", "x"))


def test_only_a_published_run_of_each_command_writes_the_pages(monkeypatch):
    from rich.console import Console

    from delivery_linkage_devtools import bench, concurrency, interleavings

    published = []
    monkeypatch.setattr(doc_blocks, "publish", lambda command, document=None: published.append(command) or [])
    console = Console(quiet=True)
    bench.publish_figures(console, bench.BenchOptions(), {"drift": {"flagged": False}})
    bench.publish_figures(console, bench.BenchOptions(), {"drift": {"flagged": True}})
    bench.publish_figures(console, bench.BenchOptions.quick_options(), {"drift": {"flagged": False}})
    bench.publish_figures(console, bench.BenchOptions(workloads=("guest_name_edits",)), {"drift": {"flagged": False}})
    assert published == ["make bench"]
    concurrency.publish_figures(console, concurrency.ConcurrencyOptions(), {})
    quick = concurrency.ConcurrencyOptions.quick(output_dir=doc_blocks.RESULTS_DIR, output_name="concurrency-quick")
    concurrency.publish_figures(console, quick, {})
    assert published == ["make bench", "make concurrency"]
    interleavings.publish_figures(console, interleavings.InterleavingOptions(), {})
    interleavings.publish_figures(console, interleavings.InterleavingOptions(pairs={("send_one", "guest_link")}), {})
    interleavings.publish_figures(console, interleavings.InterleavingOptions(levels=space.LEVELS[:1]), {})
    assert published == ["make bench", "make concurrency", "make interleavings"]


# --- the README's order ---------------------------------------------------------------------------------


def test_the_readme_opens_with_the_demo_and_the_tests_then_a_real_database_and_its_sweeper():
    text = README.read_text()
    first_block = text[text.index("```") : text.index("```", text.index("```") + 3)]
    assert first_block.index("make demo") < first_block.index("make test")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[0] == "Pointing it at a real database", headings
    real = section(text, "Pointing it at a real database")
    assert "linkage sweep" in real and "pg_cron" in real
