{#
    linkage_integrity_figures(): the row of the model delivery_integrity as a dict (read when called:
    the view computes the figures now), for the operations' before/after lines; none, with a log line
    saying how to build it, when the models were never built. The operations read the figures here
    instead of computing them: they are defined once, in int_delivery_integrity__assessed (the runbook's
    figure beside them: the last dbt build's, delivery_integrity_history).

    dbt run-operation linkage_integrity_figures   logs them.
#}
{% macro linkage_integrity_figures() %}
    {%- set node = graph.nodes.get('model.delivery_linkage.delivery_integrity') -%}
    {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias)
        if node is not none else none -%}
    {%- if relation is none -%}
        {{ log('delivery_linkage: the metric models are not built (no delivery_integrity in schema '
               ~ (node.schema if node is not none else target.schema)
               ~ '): run `dbt run` once to create them', info=True) }}
        {{ return(none) }}
    {%- endif -%}
    {%- set result = linkage_run_committed('select * from ' ~ relation) -%}
    {%- set row = result.rows[0] -%}
    {%- set figures = {} -%}
    {%- for column in result.column_names -%}
        {%- do figures.update({column: row[column]}) -%}
    {%- endfor -%}
    {%- set runbook = ('runbook\'s figure ' ~ figures.runbook_inconsistent_deliveries ~ ' of '
        ~ figures.runbook_total_deliveries ~ ' (' ~ figures.runbook_inconsistency_percentage ~ '%) at the last build')
        if figures.categories_counted_at is not none else 'runbook\'s figure not counted yet (dbt build counts it)' -%}
    {{ log('delivery integrity ' ~ figures.health_status ~ ': ' ~ figures.inconsistent_deliveries ~ ' of '
           ~ figures.total_deliveries ~ ' deliveries linkable but NULL (' ~ figures.inconsistency_percentage
           ~ '%); ' ~ runbook, info=True) }}
    {{ return(figures) }}
{% endmacro %}
