"""delivery_linkage_devtools: the team's own tools, apart from the product (not in its wheel).

The benchmark, the concurrency harness, synthetic data, demo traffic and the app fixture the tests and
the demo build. Installed from the checkout by `make setup` (`pip install -e devtools`); it adds its
commands (`linkage demo`, `linkage generate`, `linkage bench`) to the product's `linkage` through the
entry-point group `delivery_linkage.commands`.
"""

from pathlib import Path

CHECKOUT_DIR = Path(__file__).resolve().parents[3]
"""The checkout these tools belong to (bench/, scripts/, the dbt project at its root)."""
