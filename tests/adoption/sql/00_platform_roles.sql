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

-- the attributes, even when another fixture of the suite created the roles first
alter role service_role bypassrls;
alter role platform_owner login nosuperuser createrole createdb bypassrls;
alter role authenticator login noinherit;

grant anon, authenticated, service_role to platform_owner;
grant anon, authenticated, service_role to authenticator;

-- the app's guardrails migration sets these role-level timeouts (they apply to sessions that log in as
-- the role; the API roles are NOLOGIN, so they matter only to the platform's data API)
alter role anon set statement_timeout = '5s';
alter role authenticated set statement_timeout = '10s';
alter role service_role set statement_timeout = '30s';
alter role anon set idle_in_transaction_session_timeout = '5s';
alter role authenticated set idle_in_transaction_session_timeout = '10s';
alter role service_role set idle_in_transaction_session_timeout = '30s';
