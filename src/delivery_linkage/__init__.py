"""delivery_linkage: keeps message_deliveries.user_id linked, and proves it.

Where the dbt project (and the GX suites) is: `delivery_linkage.project.project_dir()`.
"""

__version__ = "0.1.0"
