{#
    linkage_sweeper_schedule: where the database has pg_cron (hosted platforms do), the sweeper
    (sweep_guest_link_queue) is scheduled there, as job delivery_linkage_sweeper in this database:
    every second with pg_cron 1.5 and later, every minute before. Idempotent (the job is replaced by
    name). Without pg_cron, or without the right to schedule, the deploy says to run `linkage sweep`.
    cron.schedule, not schedule_in_database: pg_cron can only be created in its cron.database_name,
    where cron.schedule's jobs run, so a database that has it is that one; and pg_cron revokes
    schedule_in_database from public, while cron.schedule needs only USAGE on schema cron, which hosted
    platforms give their deploy role. The job runs as the deploying role, the owner of the sweeper.
#}
{% macro linkage_sweeper_schedule(ctx) %}
    declare
        v_cron_version text;
        v_every text;
    begin
        select e.extversion into v_cron_version from pg_catalog.pg_extension as e where e.extname = 'pg_cron';
        if v_cron_version is null then
            raise notice 'delivery_linkage: no pg_cron in this database: run the sweeper with `linkage sweep` (every second), or install pg_cron before the linkage is deployed';
        else
            v_every := case
                -- major.minor only: extversion may carry a suffix (pg_cron 1.4.x is '1.4-1')
                when pg_catalog.regexp_match(v_cron_version, '^(\d+)\.(\d+)')::integer[] >= array[1, 5] then '1 seconds'
                else '* * * * *'
            end;
            begin
                execute pg_catalog.format(
                    'select cron.schedule(%L, %L, %L)',
                    'delivery_linkage_sweeper', v_every, 'select {{ ctx.p }}.sweep_guest_link_queue()'
                );
                raise notice 'delivery_linkage: the sweeper runs in pg_cron % (job delivery_linkage_sweeper, schedule ''%'')',
                    v_cron_version, v_every;
            exception when insufficient_privilege or undefined_function or invalid_schema_name then
                raise notice 'delivery_linkage: pg_cron % is installed but the deploy cannot schedule the sweeper (%): run `linkage sweep`',
                    v_cron_version, sqlerrm;
            end;
        end if;
    end;
{% endmacro %}
