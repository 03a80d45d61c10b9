{#
    linkage_refuse_builds_on_hot_standby(): the on-run-start hook after the deploy (which skips
    itself on a hot standby). `dbt run`, `build`, `seed` and `snapshot` create relations, which a hot
    standby cannot: there they stop at once, before any model, with one line saying to run them on
    the primary (dbt then skips every node: flags.skip_nodes_if_on_run_start_fails). Every other command, and every command on a primary,
    passes through untouched.
#}
{% macro linkage_refuse_builds_on_hot_standby() %}
    {%- if execute and flags.WHICH in ['run', 'build', 'seed', 'snapshot'] and linkage_is_hot_standby() -%}
        {{ exceptions.raise_compiler_error(
            "delivery_linkage: this database is a hot standby (pg_is_in_recovery: read-only), `dbt "
            ~ flags.WHICH ~ "` builds relations and cannot run here: run it on the primary (the deploy and the "
            ~ "models replicate to this standby); on a replica run the reads: `dbt test`, `linkage check`, "
            ~ "`linkage report`, `linkage validate`"
        ) }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
