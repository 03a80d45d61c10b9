{#
    dbt run-operation backfill_deliveries --args '{dry_run: true, batch_size: 5000}'
    The historical backfill: loops the private backfill_deliveries_batch over the NULL-user deliveries
    (keyset on id) and commits after every batch, so no batch holds its row locks for long and an
    interrupted run is resumed by running it again. A dry run changes nothing and writes no audit.
#}
{% macro backfill_deliveries(dry_run=false, batch_size=5000) %}
    {%- set s = linkage_schema() -%}
    {%- set dry_run = linkage_as_bool(dry_run, 'dry_run') -%}
    {%- set batch_size_text = batch_size | string | trim -%}
    {%- if not modules.re.match('^[1-9][0-9]*$', batch_size_text) -%}
        {{ exceptions.raise_compiler_error("batch_size must be a positive integer, got '" ~ batch_size_text ~ "'") }}
    {%- endif -%}
    {%- set batch_size = batch_size_text | int -%}

    {%- set before = linkage_integrity_figures() -%}
    {{ log('Backfill' ~ (' (dry run: nothing will change)' if dry_run else '') ~ ', batches of ' ~ batch_size ~ ' deliveries with no user', info=True) }}

    {#- keyset loop until a batch scans nothing; nested because dbt's sandbox caps range() at 100000 -#}
    {%- set state = {'after': none, 'batches': 0, 'scanned': 0, 'linked': 0, 'by_reason': {}, 'done': false} -%}
    {%- for _ in range(100000) -%}
        {%- for _ in range(100000) -%}
            {%- set after_sql = "null::uuid" if state.after is none else "'" ~ state.after ~ "'::uuid" -%}
            {%- set result = linkage_run_committed(
                "select last_id::text as last_id, scanned, linked, by_reason::text as by_reason from "
                ~ linkage_private_schema() ~ ".backfill_deliveries_batch(" ~ after_sql ~ ", " ~ batch_size ~ ", " ~ dry_run ~ ")"
            ) -%}
            {%- set row = result.rows[0] -%}
            {%- if row['scanned'] == 0 -%}
                {%- do state.update({'done': true}) -%}
                {%- break -%}
            {%- endif -%}
            {%- do state.update({
                'after': row['last_id'],
                'batches': state.batches + 1,
                'scanned': state.scanned + row['scanned'],
                'linked': state.linked + row['linked'],
            }) -%}
            {%- for reason, count in fromjson(row['by_reason']).items() -%}
                {%- do state.by_reason.update({reason: state.by_reason.get(reason, 0) + count}) -%}
            {%- endfor -%}
            {{ log('  batch ' ~ state.batches ~ ': scanned ' ~ row['scanned'] ~ ', '
                   ~ (row['linked'] ~ ' would link' if dry_run else 'linked ' ~ row['linked'])
                   ~ ' (total ' ~ state.scanned ~ ' scanned, ' ~ state.linked ~ (' would link)' if dry_run else ' linked)'), info=True) }}
        {%- endfor -%}
        {%- if state.done -%}
            {%- break -%}
        {%- endif -%}
    {%- endfor -%}

    {%- if state.by_reason -%}
        {%- for reason in state.by_reason | sort -%}
            {{ log('  ' ~ reason ~ ': ' ~ state.by_reason[reason], info=True) }}
        {%- endfor -%}
    {%- endif -%}
    {%- set after = linkage_integrity_figures() -%}
    {%- if dry_run -%}
        {{ log('Dry run: ' ~ state.linked ~ ' would link, of ' ~ state.scanned ~ ' deliveries with no user scanned in ' ~ state.batches ~ (' batch' if state.batches == 1 else ' batches') ~ '; nothing changed', info=True) }}
    {%- else -%}
        {{ log('Linked ' ~ state.linked ~ ' of ' ~ state.scanned ~ ' deliveries with no user scanned in ' ~ state.batches ~ (' batch' if state.batches == 1 else ' batches'), info=True) }}
    {%- endif -%}
    {%- if before is not none and after is not none -%}
        {{ log('Before: ' ~ before.inconsistent_deliveries ~ ' inconsistent deliveries (' ~ before.inconsistency_percentage ~ '%)  After: ' ~ after.inconsistent_deliveries ~ ' (' ~ after.inconsistency_percentage ~ '%)', info=True) }}
    {%- endif -%}
{% endmacro %}
