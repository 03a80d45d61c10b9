"""delivery_linkage: keeps message_deliveries.user_id linked, and proves it."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
"""The dbt project (dbt_project.yml lives here) when installed in editable mode from a checkout."""

__version__ = "0.1.0"
