-- The hosted platform under the app (run as the server's superuser).
--
-- What a new project on the platform starts with, as far as the linkage can tell:
--   * the API roles anon, authenticated, service_role (BYPASSRLS), and authenticator, the role the
--     data API logs in as before it switches (SET ROLE) to one of them;
--   * platform_owner, standing for the platform's own `postgres` role (our server's superuser already
--     has that name): NOSUPERUSER CREATEROLE CREATEDB BYPASSRLS LOGIN, member of the API roles. It owns
--     the app's tables and runs the app's migrations, and it is the role a data team gets to run dbt as;
--   * schema auth with auth.uid() / auth.role() / auth.jwt() reading the request's JWT claims from the
--     settings the data API sets (request.jwt.claims, or the older request.jwt.claim.sub), and a
--     minimal auth.users;
--   * the platform's default privileges: whatever platform_owner creates in public is granted to all
--     three API roles;
--   * the role timeouts the app itself sets (migration 20251001200000, section C).
--
-- The roles are created by 00_platform_roles.sql (cluster-wide); this file is per database.

-- ---------------------------------------------------------------------------------------------------
-- schema auth (owned by the platform, not by platform_owner)

create schema auth;
grant usage on schema auth to anon, authenticated, service_role, platform_owner;

create function auth.jwt() returns jsonb
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

create function auth.uid() returns uuid
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

create function auth.role() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

grant execute on all functions in schema auth to anon, authenticated, service_role, platform_owner;

-- the sign-in table of the platform's auth service (the app's own public.users mirrors it by id)
create table auth.users (
    id uuid primary key,
    phone text unique,
    created_at timestamptz default now()
);
grant select on auth.users to platform_owner;

-- ---------------------------------------------------------------------------------------------------
-- schema public as the platform leaves it: usable by the API roles, and whatever platform_owner
-- creates there is granted to them in full.

grant usage on schema public to anon, authenticated, service_role;
grant all on schema public to platform_owner;

alter default privileges for role platform_owner in schema public
    grant all on tables to anon, authenticated, service_role;
alter default privileges for role platform_owner in schema public
    grant all on functions to anon, authenticated, service_role;
alter default privileges for role platform_owner in schema public
    grant all on sequences to anon, authenticated, service_role;
