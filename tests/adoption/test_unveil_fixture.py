"""The adoption fixture is faithful to the real app: its platform, its guards, its original linkage, its
policies, the original daily figures. Nothing here involves this project's deploy."""

from __future__ import annotations

import psycopg
import pytest
import unveil_fixture as uf
from psycopg.rows import dict_row

U, E, G, M = uf.USERS, uf.EVENTS, uf.GUESTS, uf.MESSAGES


def deliver(conn, message_id, guest, phone):
    """A delivery as the app writes it (upsert_message_delivery); its id."""
    query = "select public.upsert_message_delivery(%s, %s, %s)"
    return conn.execute(query, (message_id, G[guest], phone)).fetchone()[0]


def delivery(conn, delivery_id) -> dict:
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute("select * from public.message_deliveries where id = %s", (delivery_id,)).fetchone()


def audit_of(conn, record_id) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(
            "select *, outcome::text as outcome from public.user_link_audit where record_id = %s order by created_at",
            (record_id,),
        ).fetchall()


def new_message(conn):
    """A new message from Hana to her wedding's guests; its id."""
    return conn.execute(
        "insert into public.messages (event_id, sender_user_id, content) values (%s, %s, 'test') returning id",
        (E["wedding"], U["hana"]),
    ).fetchone()[0]


def world_delivery(conn, message, guest):
    return conn.execute(
        "select id from public.message_deliveries where message_id = %s and guest_id = %s", (M[message], G[guest])
    ).fetchone()[0]


# ---------------------------------------------------------------------------------------------------
# the platform


def test_the_app_belongs_to_an_owner_role_that_is_not_a_superuser(owner_conn):
    role = owner_conn.execute(
        "select current_user, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles "
        "where rolname = current_user"
    ).fetchone()
    assert role == ("platform_owner", False, True, True, True)
    for api_role in ("anon", "authenticated", "service_role"):
        assert owner_conn.execute("select pg_has_role(%s, 'MEMBER')", (api_role,)).fetchone()[0]
    owners = dict(
        owner_conn.execute(
            "select c.relname, pg_get_userbyid(c.relowner) from pg_class c "
            "where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'"
        ).fetchall()
    )
    for table in ("users", "events", "event_guests", "messages", "message_deliveries", "user_link_audit"):
        assert owners[table] == "platform_owner"
    assert owner_conn.execute(
        "select pg_get_userbyid(proowner) from pg_proc where oid = 'public.link_user_by_phone'::regproc"
    ).fetchone() == ("platform_owner",)


def test_the_platform_grants_everything_the_owner_creates_in_public_to_every_api_role(owner_conn):
    # has_table_privilege answers for any of a list: ask for each privilege alone
    privileges = ("select", "insert", "update", "delete", "truncate", "references", "trigger")
    for api_role in ("anon", "authenticated", "service_role"):
        for table in ("user_link_audit", "message_deliveries", "user_link_audit_purge_runs"):
            held = owner_conn.execute(
                "select array_agg(p order by p) from unnest(%s::text[]) as p where has_table_privilege(%s, %s, p)",
                (list(privileges), api_role, f"public.{table}"),
            ).fetchone()[0]
            assert held == sorted(privileges), (api_role, table)
    owner_conn.execute("create function public.fixture_probe() returns int language sql as 'select 1'")
    owner_conn.execute("create schema private_probe")
    owner_conn.execute("create function private_probe.fixture_probe() returns int language sql as 'select 1'")
    explicit_grantees = """
        select coalesce(array_agg(pg_get_userbyid(acl.grantee)::text order by 1), '{}')
        from pg_proc p, aclexplode(p.proacl) acl
        where p.oid = %s::regprocedure and acl.grantee <> p.proowner and acl.grantee <> 0
    """
    assert owner_conn.execute(explicit_grantees, ("public.fixture_probe()",)).fetchone()[0] == [
        "anon",
        "authenticated",
        "service_role",
    ]
    assert owner_conn.execute(explicit_grantees, ("private_probe.fixture_probe()",)).fetchone()[0] == []


def test_auth_uid_is_the_sub_claim_of_the_request(unveil_db):
    with uf.as_authenticated(unveil_db, U["ava"]) as conn:
        assert conn.execute("select auth.uid()::text, current_user").fetchone() == (U["ava"], "authenticated")
    with uf.as_authenticated(unveil_db, None) as conn:
        assert conn.execute("select auth.uid()").fetchone()[0] is None


# ---------------------------------------------------------------------------------------------------
# the app's guards (event triggers of migration 20251001200000)


def test_the_rls_guard_refuses_a_new_table_in_public_without_row_level_security(owner_conn):
    with pytest.raises(psycopg.errors.RaiseException, match="RLS must be ENABLED for public.fixture_probe"):
        owner_conn.execute("create table public.fixture_probe (id int)")
    with pytest.raises(psycopg.errors.RaiseException, match="RLS must be ENABLED"):
        owner_conn.execute("create table public.fixture_probe as select 1 as id")


def test_the_rls_guard_refuses_create_then_enable_in_one_transaction(owner_conn):
    owner_conn.autocommit = False
    with pytest.raises(psycopg.errors.RaiseException, match="RLS must be ENABLED for public.fixture_probe"):
        owner_conn.execute("create table public.fixture_probe (id int)")
        owner_conn.execute("alter table public.fixture_probe enable row level security")
    owner_conn.rollback()
    owner_conn.autocommit = True
    assert owner_conn.execute("select to_regclass('public.fixture_probe')").fetchone()[0] is None


def test_the_rls_guard_refuses_any_alter_of_a_public_table_without_row_level_security(owner_conn):
    # the app's own purge log has no RLS (as in production): the guard now blocks every change to it
    # but the one that enables RLS
    with pytest.raises(psycopg.errors.RaiseException, match="public.user_link_audit_purge_runs"):
        owner_conn.execute("alter table public.user_link_audit_purge_runs add column note text")
    owner_conn.execute("alter table public.user_link_audit alter column event_id drop not null")
    owner_conn.execute("alter table public.user_link_audit_purge_runs enable row level security")


def test_the_rls_guard_lets_through_other_schemas_views_quoted_names_and_tables_moved_in_with_rls(owner_conn):
    owner_conn.execute("create schema private_probe")
    owner_conn.execute("create table private_probe.without_rls (id int)")
    owner_conn.execute("create view public.fixture_probe_view as select 1 as id")
    owner_conn.execute('create table public."Fixture_Probe" (id int)')  # object_identity is quoted
    owner_conn.execute("create table public.fixture_probe_partitioned (id int) partition by range (id)")
    owner_conn.execute("create table private_probe.moved (id int)")
    owner_conn.execute("alter table private_probe.moved enable row level security")
    owner_conn.execute("alter table private_probe.moved set schema public")
    owner_conn.execute("alter table public.user_link_audit_purge_runs set schema private_probe")
    with pytest.raises(psycopg.errors.RaiseException):
        owner_conn.execute("create table private_probe.back_again (id int)")
        owner_conn.execute("alter table private_probe.back_again set schema public")


def test_the_search_path_guard_never_fires_because_a_function_identity_carries_its_arguments(owner_conn):
    owner_conn.execute("create function public.fixture_probe() returns int language sql security definer as 'select 1'")
    owner_conn.execute(
        "create function public.fixture_probe_args(x int) returns int language sql security definer "
        "set search_path = '' as 'select 1'"
    )
    owner_conn.execute("alter function public.fixture_probe_args(int) reset search_path")
    owner_conn.execute("create procedure public.fixture_probe_proc() language sql security definer as 'select 1'")
    # why: the guard looks the function up by split_part(object_identity, '.', 2), and that part is
    # 'fixture_probe()', never a pg_proc.proname
    identity = owner_conn.execute(
        "select (pg_identify_object('pg_proc'::regclass, 'public.fixture_probe'::regproc, 0)).identity"
    ).fetchone()[0]
    assert identity == "public.fixture_probe()"
    assert (
        owner_conn.execute(
            "select count(*) from pg_proc where proname = split_part(%s, '.', 2)", (identity,)
        ).fetchone()[0]
        == 0
    )


def test_the_guards_fire_for_the_superuser_too(unveil_db):
    with psycopg.connect(unveil_db.conninfo(), autocommit=True) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
        with pytest.raises(psycopg.errors.RaiseException, match="RLS must be ENABLED"):
            conn.execute("create table public.fixture_probe (id int)")
        enabled = conn.execute("select evtname, evtenabled from pg_event_trigger order by 1").fetchall()
        assert enabled == [("trg_enforce_rls_on_new_tables", "O"), ("trg_enforce_search_path_on_secdef", "O")]


# ---------------------------------------------------------------------------------------------------
# the original linkage


def test_the_original_trigger_links_a_new_delivery_to_its_linked_guest_and_audits_it(owner_conn):
    message = new_message(owner_conn)
    delivery_id = deliver(owner_conn, message, "wedding/ava", "(555) 000-0101")  # any format: normalized
    assert str(delivery(owner_conn, delivery_id)["user_id"]) == U["ava"]
    [row] = audit_of(owner_conn, delivery_id)
    assert row["outcome"] == "linked"
    assert row["table_name"] == "message_deliveries"
    assert str(row["event_id"]) == E["wedding"]
    assert row["normalized_phone"] == "+15550000101"
    assert str(row["matched_guest_id"]) == G["wedding/ava"]
    assert str(row["linked_user_id"]) == U["ava"]


def test_the_original_trigger_falls_back_to_the_only_user_with_the_phone_without_linking_the_guest(owner_conn):
    message = new_message(owner_conn)
    delivery_id = deliver(owner_conn, message, "wedding/dev", "+15550000104")
    assert str(delivery(owner_conn, delivery_id)["user_id"]) == U["dev"]
    [row] = audit_of(owner_conn, delivery_id)
    assert (row["outcome"], str(row["matched_guest_id"]), str(row["linked_user_id"])) == (
        "linked",
        G["wedding/dev"],
        U["dev"],
    )
    guest_user = owner_conn.execute(
        "select user_id from public.event_guests where id = %s", (G["wedding/dev"],)
    ).fetchone()[0]
    assert guest_user is None


def test_the_original_trigger_audits_no_match_when_nobody_has_the_phone(owner_conn):
    message = new_message(owner_conn)
    delivery_id = deliver(owner_conn, message, "wedding/fay", "+15550000106")
    assert delivery(owner_conn, delivery_id)["user_id"] is None
    [row] = audit_of(owner_conn, delivery_id)
    assert (row["outcome"], str(row["matched_guest_id"]), row["linked_user_id"]) == (
        "no_match",
        G["wedding/fay"],
        None,
    )


def test_the_original_trigger_writes_nothing_without_a_guest_or_a_usable_phone(owner_conn):
    # the audit's NOT NULL event_id and normalized_phone never fail: the trigger returns before auditing
    message = new_message(owner_conn)
    no_phone = deliver(owner_conn, message, "wedding/gus", None)
    empty_phone = deliver(owner_conn, message, "wedding/ava", "")
    unusable_phone = deliver(owner_conn, message, "wedding/ben", "555-01")
    no_guest = owner_conn.execute(
        "insert into public.message_deliveries (message_id, phone_number) values (%s, '+15550000101') returning id",
        (message,),
    ).fetchone()[0]
    for delivery_id in (no_phone, empty_phone, unusable_phone, no_guest):
        assert delivery(owner_conn, delivery_id)["user_id"] is None
        assert audit_of(owner_conn, delivery_id) == []
    # Ava's and Ben's guest rows are linked: only the phone kept them from being linked
    assert (
        owner_conn.execute(
            "select count(*) from public.event_guests where id in (%s, %s) and user_id is not null",
            (G["wedding/ava"], G["wedding/ben"]),
        ).fetchone()[0]
        == 2
    )


def test_the_original_trigger_runs_again_on_every_update_and_links_late(owner_conn):
    # Ben's first delivery in B was written before he signed up
    delivery_id = world_delivery(owner_conn, "birthday/invitation", "birthday/ben")
    assert [row["outcome"] for row in audit_of(owner_conn, delivery_id)] == ["no_match", "linked"]  # + dry run
    assert delivery(owner_conn, delivery_id)["user_id"] is None
    owner_conn.execute("update public.message_deliveries set sms_status = 'delivered' where id = %s", (delivery_id,))
    assert str(delivery(owner_conn, delivery_id)["user_id"]) == U["ben"]
    assert [row["outcome"] for row in audit_of(owner_conn, delivery_id)] == ["no_match", "linked", "linked"]


def test_an_upsert_that_conflicts_audits_the_id_of_a_row_never_stored(owner_conn):
    existing = world_delivery(owner_conn, "wedding/save-the-date", "wedding/fay")
    since = owner_conn.execute("select clock_timestamp()").fetchone()[0]
    assert deliver(owner_conn, M["wedding/save-the-date"], "wedding/fay", "+15550000106") == existing
    new_rows = owner_conn.execute(
        "select record_id = %s, exists (select 1 from public.message_deliveries d where d.id = a.record_id) "
        "from public.user_link_audit a where created_at >= %s",
        (existing, since),
    ).fetchall()
    assert sorted(new_rows) == [(False, False), (True, True)]
    # the world already holds one such row (Ivy's retried first message); now two
    phantoms = owner_conn.execute(
        "select count(*) from public.user_link_audit a "
        "where not exists (select 1 from public.message_deliveries d where d.id = a.record_id)"
    ).fetchone()[0]
    assert phantoms == 2


def test_ambiguous_cannot_arise_on_the_final_schema(owner_conn):
    with pytest.raises(psycopg.errors.UniqueViolation, match="event_guests_event_id_phone_active_key"):
        owner_conn.execute(
            "insert into public.event_guests (event_id, guest_name, phone) values (%s, 'Twin', '+15550000108')",
            (E["wedding"],),
        )
    with pytest.raises(psycopg.errors.UniqueViolation, match="users_phone_key"):
        owner_conn.execute("insert into public.users (id, phone) values (gen_random_uuid(), '+15550000101')")


def test_switching_linking_off_the_documented_way_audits_skipped(owner_conn):
    owner_conn.execute(
        "create or replace function public.get_feature_flag(flag_name text) returns boolean "
        "language plpgsql stable set search_path = public as $$ begin return false; end; $$"
    )
    message = new_message(owner_conn)
    delivery_id = deliver(owner_conn, message, "wedding/ava", "+15550000101")
    assert delivery(owner_conn, delivery_id)["user_id"] is None
    [row] = audit_of(owner_conn, delivery_id)
    assert (row["outcome"], row["matched_guest_id"], row["linked_user_id"]) == ("skipped", None, None)


def test_the_world_holds_legacy_audit_rows_of_every_original_outcome(owner_conn):
    counts = dict(
        owner_conn.execute("select outcome::text, count(*) from public.user_link_audit group by 1").fetchall()
    )
    assert counts == {"linked": 20, "no_match": 27, "ambiguous": 2, "skipped": 2}
    # a dry run of backfill_user_links audits 'linked' for deliveries it leaves without a user
    dry_linked_left_null = owner_conn.execute(
        "select count(*) from public.user_link_audit a join public.message_deliveries d on d.id = a.record_id "
        "where a.outcome = 'linked' and d.user_id is null"
    ).fetchone()[0]
    # Ben's first delivery in B, Ava's sent while linking was off, Dev's first (through his user's phone)
    assert dry_linked_left_null == 3
    assert owner_conn.execute("select count(distinct created_at) > 5 from public.user_link_audit").fetchone()[0]


def test_the_audit_table_has_the_original_shape(owner_conn):
    columns = owner_conn.execute(
        "select column_name, udt_name, is_nullable, column_default from information_schema.columns "
        "where table_schema = 'public' and table_name = 'user_link_audit' order by ordinal_position"
    ).fetchall()
    assert columns == [
        ("id", "uuid", "NO", "gen_random_uuid()"),
        ("table_name", "text", "NO", None),
        ("record_id", "uuid", "NO", None),
        ("event_id", "uuid", "NO", None),
        ("normalized_phone", "text", "NO", None),
        ("matched_guest_id", "uuid", "YES", None),
        ("linked_user_id", "uuid", "YES", None),
        ("outcome", "user_link_outcome_enum", "NO", None),
        ("created_at", "timestamptz", "YES", "now()"),
    ]
    assert owner_conn.execute("select enum_range(null::public.user_link_outcome_enum)::text").fetchone()[0] == (
        "{linked,no_match,ambiguous,skipped}"
    )
    foreign_keys = owner_conn.execute(
        "select a.attname, c.confrelid::regclass::text, c.confdeltype from pg_constraint c "
        "join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1] "
        "where c.conrelid = 'public.user_link_audit'::regclass and c.contype = 'f' order by 1"
    ).fetchall()
    assert foreign_keys == [
        ("event_id", "events", "c"),
        ("linked_user_id", "users", "n"),
        ("matched_guest_id", "event_guests", "n"),
    ]
    assert owner_conn.execute(
        "select relrowsecurity, relforcerowsecurity from pg_class where oid = 'public.user_link_audit'::regclass"
    ).fetchone() == (True, False)
    assert owner_conn.execute(
        "select policyname, cmd, roles::text, qual from pg_policies where tablename = 'user_link_audit'"
    ).fetchall() == [("user_link_audit_host_access", "SELECT", "{public}", "is_event_host(event_id)")]


def test_deliveries_and_guests_keep_the_apps_keys_and_delete_actions(owner_conn):
    foreign_keys = owner_conn.execute(
        "select c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, c.confdeltype, c.condeferred "
        "from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1] "
        "where c.contype = 'f' and c.conrelid::regclass::text in ('message_deliveries', 'event_guests') order by 1, 2"
    ).fetchall()
    assert foreign_keys == [
        ("event_guests", "event_id", "events", "c", False),
        ("event_guests", "user_id", "users", "n", False),
        ("message_deliveries", "guest_id", "event_guests", "c", False),
        ("message_deliveries", "message_id", "messages", "c", True),
        ("message_deliveries", "response_message_id", "messages", "n", False),
        ("message_deliveries", "scheduled_message_id", "scheduled_messages", "c", False),
        ("message_deliveries", "user_id", "users", "n", False),
    ]
    uniques = owner_conn.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint "
        "where contype = 'u' and conrelid::regclass::text in ('message_deliveries', 'event_guests', 'users') order by 1"
    ).fetchall()
    assert uniques == [
        ("unique_event_guest_user", "UNIQUE (event_id, user_id)"),
        ("unique_message_guest_delivery", "UNIQUE (message_id, guest_id)"),
        ("users_phone_key", "UNIQUE (phone)"),
    ]


def test_deleting_a_user_runs_the_original_trigger_on_their_deliveries(owner_conn):
    # ON DELETE SET NULL on deliveries.user_id is an UPDATE: the BEFORE UPDATE trigger re-runs, finds
    # Ben's guest rows already unlinked (their SET NULL came first) and no user with his phone
    ben_deliveries = owner_conn.execute(
        "select count(*) from public.message_deliveries where user_id = %s", (U["ben"],)
    ).fetchone()[0]
    assert ben_deliveries > 0
    before = owner_conn.execute("select count(*) from public.user_link_audit where outcome = 'no_match'").fetchone()[0]
    owner_conn.execute("delete from public.users where id = %s", (U["ben"],))
    after = owner_conn.execute("select count(*) from public.user_link_audit where outcome = 'no_match'").fetchone()[0]
    assert after - before == ben_deliveries
    assert (
        owner_conn.execute(
            "select count(*) from public.user_link_audit where linked_user_id = %s", (U["ben"],)
        ).fetchone()[0]
        == 0
    )


def test_the_original_backfill_links_what_its_rules_allow_and_audits_its_dry_runs(owner_conn):
    dry = owner_conn.execute(
        "select processed_count, linked_count from public.backfill_user_links('message_deliveries', 100, true)"
    ).fetchone()
    assert dry[1] > 0
    assert (
        owner_conn.execute(
            "select count(*) from public.message_deliveries where user_id is null and guest_id = %s",
            (G["birthday/ben"],),
        ).fetchone()[0]
        == 1
    )
    owner_conn.execute("select * from public.backfill_user_links('message_deliveries', 100, false)")
    assert (
        owner_conn.execute(
            "select count(*) from public.message_deliveries where user_id is null and guest_id = %s",
            (G["birthday/ben"],),
        ).fetchone()[0]
        == 0
    )
    # Cleo's guest row is removed: her first delivery stays without a user
    assert (
        owner_conn.execute(
            "select count(*) from public.message_deliveries where user_id is null and guest_id = %s",
            (G["wedding/cleo"],),
        ).fetchone()[0]
        == 1
    )


def test_the_original_retention_purged_the_old_event_and_logged_the_run(owner_conn):
    assert owner_conn.execute(
        "select retain_days, rows_deleted, cutoff_date < now() - interval '179 days' "
        "from public.user_link_audit_purge_runs"
    ).fetchall() == [(180, 3, True)]
    assert (
        owner_conn.execute("select count(*) from public.user_link_audit where event_id = %s", (E["gala"],)).fetchone()[
            0
        ]
        == 0
    )
    assert (
        owner_conn.execute(
            "select count(*) from public.message_deliveries where message_id = %s", (M["gala/thanks"],)
        ).fetchone()[0]
        == 2
    )
    owner_conn.execute("select public.run_user_link_audit_purge(180)")
    assert owner_conn.execute(
        "select count(*), sum(rows_deleted) from public.user_link_audit_purge_runs"
    ).fetchone() == (2, 3)


# ---------------------------------------------------------------------------------------------------
# the app's policies, as the data API applies them


def test_a_guest_reads_their_own_deliveries_through_the_apps_policy(unveil_db, owner_conn):
    own = {
        row[0] for row in owner_conn.execute("select id from public.message_deliveries where user_id = %s", (U["ava"],))
    }
    unlinked_in_her_events = {
        row[0]
        for row in owner_conn.execute(
            "select d.id from public.message_deliveries d join public.event_guests g on g.id = d.guest_id "
            "where d.user_id is null and g.event_id in "
            "(select event_id from public.event_guests where user_id = %s and removed_at is null)",
            (U["ava"],),
        )
    }
    assert len(own) == 6  # her six linked deliveries; the seventh was sent while linking was off
    with uf.as_authenticated(unveil_db, U["ava"]) as conn:
        visible = dict(conn.execute("select id, user_id from public.message_deliveries").fetchall())
    assert own <= visible.keys()
    # the app's policy: a linked delivery is its user's alone; an unlinked one is seen by the event's
    # host and by every active linked guest of the event
    assert {str(user) for user in visible.values() if user is not None} == {U["ava"]}
    assert {key for key, user in visible.items() if user is None} == unlinked_in_her_events


def test_a_removed_guest_no_longer_reads_the_delivery_that_was_never_linked(unveil_db, owner_conn):
    first = world_delivery(owner_conn, "wedding/save-the-date", "wedding/cleo")
    venue = world_delivery(owner_conn, "wedding/venue", "wedding/cleo")
    with uf.as_authenticated(unveil_db, U["cleo"]) as conn:
        visible = {row[0] for row in conn.execute("select id from public.message_deliveries")}
    assert venue in visible
    assert first not in visible


def test_a_host_reads_the_audit_of_their_events_only(unveil_db, owner_conn):
    per_event = dict(
        owner_conn.execute("select event_id::text, count(*) from public.user_link_audit group by 1").fetchall()
    )
    for host, event in (("hana", "wedding"), ("omar", "birthday")):
        with uf.as_authenticated(unveil_db, U[host]) as conn:
            seen = dict(
                conn.execute("select event_id::text, count(*) from public.user_link_audit group by 1").fetchall()
            )
        assert seen == {E[event]: per_event[E[event]]}
    with uf.as_authenticated(unveil_db, U["ava"]) as conn:
        assert conn.execute("select count(*) from public.user_link_audit").fetchone()[0] == 0


def test_the_audit_is_written_by_the_trigger_never_by_its_readers(unveil_db):
    with uf.as_authenticated(unveil_db, U["hana"]) as conn:
        # the host may write messages and deliveries for her event; the definer trigger audits them
        message = conn.execute(
            "insert into public.messages (event_id, sender_user_id, content) values (%s, %s, 'Rain plan') returning id",
            (E["wedding"], U["hana"]),
        ).fetchone()[0]
        delivery_id = conn.execute(
            "insert into public.message_deliveries (message_id, guest_id, phone_number) "
            "values (%s, %s, '+15550000106') returning id",
            (message, G["wedding/fay"]),
        ).fetchone()[0]
        assert conn.execute(
            "select outcome::text from public.user_link_audit where record_id = %s", (delivery_id,)
        ).fetchall() == [("no_match",)]
        # granted INSERT by the platform's defaults, refused by row-level security (no insert policy)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "insert into public.user_link_audit (table_name, record_id, event_id, normalized_phone, outcome) "
                "values ('message_deliveries', gen_random_uuid(), %s, '+1', 'linked')",
                (E["wedding"],),
            )
    with psycopg.connect(uf.as_api_login(unveil_db).conninfo(), autocommit=True) as conn:
        conn.execute("set role service_role")
        total = conn.execute("select count(*) from public.user_link_audit").fetchone()[0]
        assert total == 52


# ---------------------------------------------------------------------------------------------------
# the original daily figures


def test_the_original_daily_figures_of_the_world(unveil_db):
    figures = uf.original_daily_figures(unveil_db)
    assert figures == uf.DailyIntegrityFigures(**uf.WORLD_DAILY_FIGURES)


def test_the_original_daily_figures_count_removed_guests_and_ignore_deliveries_without_a_guest(unveil_db, owner_conn):
    assert owner_conn.execute("select count(*) from public.message_deliveries").fetchone()[0] == 40
    # Cleo's guest row is removed, her first delivery still counts as inconsistent; heal the two others
    owner_conn.execute(
        "update public.message_deliveries set sms_status = 'delivered' where message_id = %s and guest_id = %s",
        (M["birthday/invitation"], G["birthday/ben"]),
    )
    figures = uf.original_daily_figures(unveil_db)
    assert (figures.inconsistent, figures.health_status, figures.alert) == (2, "MINOR_ISSUES", "critical")
    owner_conn.execute(
        "update public.message_deliveries set sms_status = 'delivered' where message_id = %s and guest_id = %s",
        (M["wedding/dress-code"], G["wedding/ava"]),
    )
    owner_conn.execute(
        "update public.message_deliveries set user_id = %s where guest_id = %s and user_id is null",
        (U["cleo"], G["wedding/cleo"]),
    )
    figures = uf.original_daily_figures(unveil_db)
    assert (figures.total_deliveries, figures.inconsistent, figures.percentage) == (39, 0, 0)
    assert (figures.health_status, figures.alert) == ("HEALTHY", "none")
