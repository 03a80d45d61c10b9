{#
    dbt run-operation purge_audit --args '{retain_days: 180}'
    The audit's retention: deletes attempts (and rows of an adopted audit table) older than
    retain_days (default 180, the original system's) and logs the run (link_audit_purge_runs).
#}
{% macro purge_audit(retain_days=180) %}
    {%- set days_text = retain_days | string | trim -%}
    {%- if not modules.re.match('^[0-9]+$', days_text) -%}
        {{ exceptions.raise_compiler_error("retain_days must be a non-negative whole number of days, got '" ~ days_text ~ "'") }}
    {%- endif -%}
    {%- set result = linkage_run_committed(
        "select " ~ linkage_private_schema() ~ ".purge_link_audit(" ~ days_text ~ ") as deleted"
    ) -%}
    {{ log('Audit retention: kept ' ~ days_text ~ ' days, deleted ' ~ result.rows[0]['deleted'] ~ ' rows (attempts and legacy rows); logged in ' ~ linkage_private_schema() ~ '.link_audit_purge_runs', info=True) }}
{% endmacro %}
