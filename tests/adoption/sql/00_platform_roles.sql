-- The hosted platform's roles (run as the server's superuser). Roles are cluster-wide: idempotent, and
-- run before the database is created (it is created owned by platform_owner). See 01_platform.sql.

do $roles$
begin
    if not exists (select from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'platform_owner') then
        create role platform_owner login nosuperuser createrole createdb bypassrls;
    end if;
end
$roles$;

-- the attributes, memberships and role settings, even when another fixture of the suite created the
-- roles first; each changed only when it differs, so that concurrent test workers (which share the
-- cluster's roles) write nothing once the first has set them
do $attributes$
declare
    v_membership record;
    v_setting record;
begin
    if exists (select from pg_roles where rolname = 'service_role' and not rolbypassrls) then
        alter role service_role bypassrls;
    end if;
    if exists (
        select from pg_roles where rolname = 'platform_owner'
        and not (rolcanlogin and not rolsuper and rolcreaterole and rolcreatedb and rolbypassrls)
    ) then
        alter role platform_owner login nosuperuser createrole createdb bypassrls;
    end if;
    if exists (select from pg_roles where rolname = 'authenticator' and not (rolcanlogin and not rolinherit)) then
        alter role authenticator login noinherit;
    end if;
    for v_membership in
        select granted.name as granted_role, member.name as member_role
        from (values ('anon'), ('authenticated'), ('service_role')) as granted (name)
        cross join (values ('platform_owner'), ('authenticator')) as member (name)
        where not exists (
            select from pg_auth_members as m
            where m.roleid = granted.name::regrole and m.member = member.name::regrole
        )
    loop
        execute format('grant %I to %I', v_membership.granted_role, v_membership.member_role);
    end loop;
    -- the app's guardrails migration sets these role-level timeouts (they apply to sessions that log in
    -- as the role; the API roles are NOLOGIN, so they matter only to the platform's data API)
    for v_setting in
        select wanted.role_name, wanted.setting_name, wanted.setting_value
        from (values
            ('anon', 'statement_timeout', '5s'),
            ('authenticated', 'statement_timeout', '10s'),
            ('service_role', 'statement_timeout', '30s'),
            ('anon', 'idle_in_transaction_session_timeout', '5s'),
            ('authenticated', 'idle_in_transaction_session_timeout', '10s'),
            ('service_role', 'idle_in_transaction_session_timeout', '30s')
        ) as wanted (role_name, setting_name, setting_value)
        where not exists (
            select from pg_db_role_setting as s
            where s.setdatabase = 0 and s.setrole = wanted.role_name::regrole
              and wanted.setting_name || '=' || wanted.setting_value = any (s.setconfig)
        )
    loop
        execute format('alter role %I set %I = %L', v_setting.role_name, v_setting.setting_name, v_setting.setting_value);
    end loop;
end
$attributes$;
