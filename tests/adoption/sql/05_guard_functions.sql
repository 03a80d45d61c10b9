-- The app's DDL guards, part 1: their functions, owned by platform_owner (run under SET ROLE
-- platform_owner). Transcribed from migration 20251001200000_install_db_guardrails_and_perf_cleanup.sql,
-- sections A1 and B1, logic unchanged: what they refuse, and what they let through, is the app's.
--
-- Both read pg_event_trigger_ddl_commands() at ddl_command_end, i.e. at the end of each statement, not
-- at commit: `create table` followed by `enable row level security` in the same transaction is refused at
-- the create. Both split object_identity on '.' to find the object again by name. For a table that gives
-- schema and name; for a function object_identity is 'public.name(argument types)', so the name part
-- never equals pg_proc.proname and the search_path guard finds nothing to check (see
-- test_unveil_fixture.py for what each guard really refuses).

create function public._enforce_rls_on_new_tables() returns event_trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    r record;
    sch text;
    tbl text;
begin
    for r in
        select * from pg_event_trigger_ddl_commands()
        where command_tag in ('CREATE TABLE', 'CREATE TABLE AS', 'ALTER TABLE')
    loop
        -- object_identity like 'public.table_name'
        sch := split_part(r.object_identity, '.', 1);
        tbl := split_part(r.object_identity, '.', 2);

        if sch = 'public' and tbl <> '' then
            perform 1
            from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = sch and c.relname = tbl and c.relkind = 'r';

            if found then
                if not exists (
                    select 1
                    from pg_class c
                    join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname = sch and c.relname = tbl and c.relrowsecurity = true
                ) then
                    raise exception
                    'RLS must be ENABLED for %.% before commit. Enable RLS and add USING/WITH CHECK policies.',
                    sch, tbl
                    using hint = 'ALTER TABLE ' || quote_ident(sch) || '.' || quote_ident(tbl) || ' ENABLE ROW LEVEL SECURITY;';
                end if;
            end if;
        end if;
    end loop;
end;
$$;

create function public._enforce_search_path_on_secdef() returns event_trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    r record;
    sch text;
    fn text;
    def text;
    has_secdef boolean;
    has_safe_sp boolean;
begin
    for r in
        select * from pg_event_trigger_ddl_commands()
        where command_tag in ('CREATE FUNCTION', 'CREATE PROCEDURE', 'ALTER FUNCTION')
    loop
        sch := split_part(r.object_identity, '.', 1);
        fn  := split_part(r.object_identity, '.', 2);

        select p.prosecdef,
               (pg_get_functiondef(p.oid) like '%SET search_path = public, pg_temp%')
        into has_secdef, has_safe_sp
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = sch and p.proname = fn
        limit 1;

        if coalesce(has_secdef, false) and not coalesce(has_safe_sp, false) then
            raise exception
            'SECURITY DEFINER function %.% must set "SET search_path = public, pg_temp".',
            sch, fn
            using hint = 'Add "SET search_path = public, pg_temp" to the function header.';
        end if;
    end loop;
end;
$$;
