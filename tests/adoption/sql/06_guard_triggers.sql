-- The app's DDL guards, part 2: the event triggers (run as the server's superuser, the only role that
-- may create event triggers here; on the platform a privileged extension lets `postgres` do it).
-- Sections A2 and B2 of migration 20251001200000. Installed last, after the world's history, as in the
-- app (the guards came in October 2025, long after the linkage). They fire for every role, superuser
-- included.

create event trigger trg_enforce_rls_on_new_tables
    on ddl_command_end
    execute procedure public._enforce_rls_on_new_tables();

create event trigger trg_enforce_search_path_on_secdef
    on ddl_command_end
    execute procedure public._enforce_search_path_on_secdef();
