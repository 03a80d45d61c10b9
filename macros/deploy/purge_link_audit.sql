{#
    purge_link_audit(retain_days): the audit's retention (the original system kept 180 days and
    logged each purge). Deletes the attempts older than retain_days — whole groups of link_attempts,
    and the rows of an adopted audit table (user_link_audit_legacy) — and logs the run in
    link_audit_purge_runs (no personal data). Returns how many attempts and legacy rows it deleted.
    The same on adopted and new installs; the original's names (purge_user_link_audit,
    run_user_link_audit_purge) call it where the app had them (linkage_compatibility_functions).
#}
{% macro purge_link_audit(ctx) %}
    {%- set p = ctx.p -%}
    create or replace function {{ p }}.purge_link_audit(p_retain_days integer)
    returns bigint
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    declare
        v_cutoff timestamptz;
        v_attempts bigint;
        v_legacy bigint := 0;
    begin
        if p_retain_days is null or p_retain_days < 0 then
            raise exception 'delivery_linkage: retain_days must be a non-negative number of days, got %', p_retain_days;
        end if;
        v_cutoff := pg_catalog.now() - pg_catalog.make_interval(days => p_retain_days);
        with purged as (
            delete from {{ p }}.link_attempts as attempt where attempt.created_at < v_cutoff
            returning pg_catalog.cardinality(attempt.record_ids) as attempts
        )
        select coalesce(pg_catalog.sum(purged.attempts), 0) into v_attempts from purged;
        if pg_catalog.to_regclass('{{ p }}.user_link_audit_legacy') is not null then
            execute 'delete from {{ p }}.user_link_audit_legacy as legacy where legacy.created_at < $1' using v_cutoff;
            get diagnostics v_legacy = row_count;
        end if;
        insert into {{ p }}.link_audit_purge_runs (retain_days, cutoff, attempts_deleted, legacy_rows_deleted)
        values (p_retain_days, v_cutoff, v_attempts, v_legacy);
        raise notice 'delivery_linkage: purged % attempts and % legacy audit rows older than % days (cutoff %)',
            v_attempts, v_legacy, p_retain_days, v_cutoff;
        return v_attempts + v_legacy;
    end
    $function$;
    comment on function {{ p }}.purge_link_audit(integer) is
        'delivery_linkage: audit retention: deletes attempts older than p_retain_days and logs the run; returns how many rows went.';
{% endmacro %}
