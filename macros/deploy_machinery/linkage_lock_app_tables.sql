{#
    linkage_lock_app_tables: takes event_guests and message_deliveries (ACCESS EXCLUSIVE, as DROP TRIGGER
    needs) and users (SHARE) before a
    deploy changes a trigger, an index or the audit's shape — without ever waiting while it holds
    one of them (also: further relations the caller must change, e.g. an adopted audit table; also_sql:
    a plpgsql expression holding a comma-separated list of more relations, decided at run time): all are
    requested NOWAIT in a subtransaction, and when any is busy the
    subtransaction gives back what it got, the deploy sleeps 50 ms and tries again, until lock_timeout.
    So a deploy cannot deadlock an app transaction (whatever order the app takes the tables in), and
    writers never queue behind a deploy that is itself waiting.
#}
{% macro linkage_lock_app_tables(s, also=[], also_sql=none) %}
    v_lock_deadline := pg_catalog.clock_timestamp()
        + coalesce(nullif(pg_catalog.current_setting('lock_timeout'), '0'), '5s')::interval;
    loop
        begin
            -- ACCESS EXCLUSIVE: DROP TRIGGER needs it, and a lock upgraded later would wait while holding
            lock table {{ s }}.event_guests, {{ s }}.message_deliveries{% for relation in also %}, {{ relation }}{% endfor %} in access exclusive mode nowait;
            -- users: the linkage's trigger on it (SHARE ROW EXCLUSIVE, as CREATE TRIGGER needs)
            lock table {{ s }}.users in share row exclusive mode nowait;
            {%- if also_sql %}
            if {{ also_sql }} is not null then
                execute 'lock table ' || {{ also_sql }} || ' in access exclusive mode nowait';
            end if;
            {%- endif %}
            exit;
        exception when lock_not_available then
            if pg_catalog.clock_timestamp() >= v_lock_deadline then
                raise exception using
                    errcode = 'lock_not_available',
                    message = 'delivery_linkage: canceling deploy due to lock timeout',
                    detail = 'An app table or one of the linkage''s own tables stayed busy for the whole lock_timeout.',
                    hint = 'Nothing was deployed; run dbt again when the long transaction is done.';
            end if;
            perform pg_catalog.pg_sleep(0.05);
        end;
    end loop;
{% endmacro %}
