-- The runbook's feature_flags table as the original system created it, with its two flags as they are
-- set in production (linking on, the users fallback off), for the databases of the developer tools that
-- run without the deploy (which creates it otherwise): the benchmark's baseline, the interleavings'
-- control.
create table public.feature_flags (
    flag_name text primary key,
    enabled boolean not null,
    description text,
    updated_at timestamptz not null default now()
);
insert into public.feature_flags (flag_name, enabled)
values ('LINK_USER_BY_PHONE', true), ('LINK_USER_BY_PHONE_FALLBACK_TO_USERS', false);
