{#
    The `unit` materialization (dbt unit tests) for PostgreSQL: dbt's own on a primary; on a hot
    standby, where even a temporary table cannot be created, the same test without one.

    dbt's materialization creates an empty temporary table from the model's SQL only to read its
    columns' types (for casting the expected rows). On a standby they are read from the model's own
    relation instead, built from the same SQL on the primary and replicated (the same types, typmods
    included: numeric(5,2) stays numeric(5,2)); when the model was never built, from a query that
    writes nothing (linkage_columns_of_query). The comparison itself is dbt's (get_expected_sql,
    get_unit_test_sql), unchanged. Applies when this project is the root project (dbt uses a root
    project's materializations before the adapter's).
#}
{%- materialization unit, adapter='postgres' -%}
    {%- if not linkage_is_hot_standby() -%}
        {{ return(dbt.materialization_unit_default()) }}
    {%- endif -%}

    {% set relations = [] %}
    {% set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none %}
    {% set expected_rows = config.get('expected_rows') %}
    {% set expected_sql = config.get('expected_sql') %}
    {% set tested_expected_column_names = expected_rows[0].keys() if (expected_rows | length ) > 0 else get_columns_in_query(sql) %}

    {%- set column_name_to_data_types = {} -%}
    {%- set column_name_to_quoted = {} -%}
    {#- the tested model, in the unit test's database and schema (this project's models keep their names) -#}
    {%- set built = adapter.get_relation(
        database=this.database, schema=this.schema, identifier=model.tested_node_unique_id.split('.')[2]
    ) -%}
    {%- set columns = adapter.get_columns_in_relation(built) if built is not none else linkage_columns_of_query(sql) -%}
    {%- for column in columns -%}
        {%- do column_name_to_data_types.update({column.name | lower: column.data_type}) -%}
        {%- do column_name_to_quoted.update({column.name | lower: column.quoted}) -%}
    {%- endfor -%}

    {%- set expected_column_names_quoted = [] -%}
    {%- for column_name in tested_expected_column_names -%}
        {%- do expected_column_names_quoted.append(column_name_to_quoted[column_name | lower]) -%}
    {%- endfor -%}

    {% if not expected_sql %}
        {% set expected_sql = get_expected_sql(expected_rows, column_name_to_data_types, column_name_to_quoted) %}
    {% endif %}
    {% set unit_test_sql = get_unit_test_sql(sql, expected_sql, expected_column_names_quoted) %}

    {% call statement('main', fetch_result=True) -%}
        {% if sql_header %}{{ sql_header }}{% endif %}
        {{ unit_test_sql }}
    {%- endcall %}

    {{ return({'relations': relations}) }}
{%- endmaterialization -%}


{#
    linkage_columns_of_query(sql): the columns of a query's result, names and types (dbt Columns),
    read without writing anything: the query, empty, left-joined to one row, so each column is one
    NULL of its type, which pg_typeof names.
#}
{% macro linkage_columns_of_query(sql) %}
    {%- set names = get_columns_in_query(sql) -%}
    {%- if not names -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set selects = [] -%}
    {%- for name in names -%}
        {%- do selects.append('pg_catalog.pg_typeof(result.' ~ adapter.quote(name) ~ ')::text') -%}
    {%- endfor -%}
    {%- set types = run_query(
        'select ' ~ selects | join(', ') ~ ' from (select 1) as one_row left join ('
        ~ sql ~ ') as result on false'
    ).rows[0] -%}
    {%- set columns = [] -%}
    {%- for name in names -%}
        {%- do columns.append(api.Column(name, types[loop.index0])) -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}
