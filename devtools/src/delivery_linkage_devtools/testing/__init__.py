"""The test-support package: what the main suite (tests/), the adoption suite (tests/adoption/), the
reliability suite (tests/reliability/) and the developer tools share.

- databases: one fresh database per test, cloned from a template (`CREATE DATABASE … TEMPLATE`), and the
  pytest fixture factory the suites' conftest.py files build their per-test fixtures with;
- world: the app's rows written in the app's own words (users, events, guests, messages, deliveries),
  a delivery's user, the audit's rows, the feature flags, the sweeper, the dbt build's category count;
- runbook_world: the runbook's situation (`total` deliveries, `defects` of them linkable but NULL);
- invariants: the queries every suite and tool asserts on, the linkable-but-NULL query written once.

It lives in devtools, not in tests/: the developer tools (the concurrency harness, the benchmark) check
the same invariants, and devtools never imports tests/ (tests import devtools: it is installed editable
by `make setup`, and it is not part of the product's wheel). Nothing here imports pytest but the fixture
factory in databases, which only the suites' conftest.py files call.
"""
