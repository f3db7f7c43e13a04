// SPDX-License-Identifier: Apache-2.0
//! The database schema and its versioned migrations.

use tokio_postgres::Client;

/// An arbitrary, fixed key for the advisory lock that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x6665_7272_6f73_7401;

/// One schema change. Migrations are applied in order, each at most once, and recorded in
/// `ferrostack_migrations`; a released migration is never edited, only followed by a new one.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) version: i32,
    pub(crate) description: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "kv table and the store revision counter",
        sql: r#"
CREATE TABLE ferrostack_meta (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    revision int8 NOT NULL
);
INSERT INTO ferrostack_meta (id, revision) VALUES (true, 0);
CREATE TABLE ferrostack_kv (
    key text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL,
    create_revision int8 NOT NULL,
    mod_revision int8 NOT NULL,
    version int8 NOT NULL
);
"#,
    },
    Migration {
        version: 2,
        description: "ferrostack_txn: conditional multi-key writes in one statement",
        sql: r#"
CREATE FUNCTION ferrostack_txn(
    c_keys text[], c_kinds int2[], c_revs int8[], c_vals bytea[],
    o_keys text[], o_vals bytea[])
RETURNS TABLE (failed_at int4, committed_revision int8)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    rev int8;
    n_ops int4 := coalesce(array_length(o_keys, 1), 0);
    cur record;
    ok boolean;
BEGIN
    -- The single counter row is the commit lock: writers take it exclusively, read-only
    -- transactions shared. Once held, every statement below sees every earlier commit
    -- (READ COMMITTED takes a fresh snapshot per statement) and no other writer can commit.
    IF n_ops > 0 THEN
        SELECT m.revision INTO rev FROM ferrostack_meta m FOR UPDATE;
    ELSE
        SELECT m.revision INTO rev FROM ferrostack_meta m FOR SHARE;
    END IF;
    FOR i IN 1 .. coalesce(array_length(c_keys, 1), 0) LOOP
        SELECT kv.value, kv.mod_revision INTO cur FROM ferrostack_kv kv WHERE kv.key = c_keys[i];
        ok := CASE c_kinds[i]
            WHEN 0 THEN FOUND
            WHEN 1 THEN NOT FOUND
            WHEN 2 THEN FOUND AND cur.mod_revision = c_revs[i]
            WHEN 3 THEN FOUND AND cur.value = c_vals[i]
            ELSE false
        END;
        IF NOT coalesce(ok, false) THEN
            RETURN QUERY SELECT i - 1, NULL::int8;
            RETURN;
        END IF;
    END LOOP;
    IF n_ops = 0 THEN
        RETURN QUERY SELECT NULL::int4, rev;
        RETURN;
    END IF;
    rev := rev + 1;
    UPDATE ferrostack_meta SET revision = rev;
    FOR i IN 1 .. n_ops LOOP
        IF o_vals[i] IS NULL THEN
            DELETE FROM ferrostack_kv kv WHERE kv.key = o_keys[i];
        ELSE
            INSERT INTO ferrostack_kv AS kv (key, value, create_revision, mod_revision, version)
            VALUES (o_keys[i], o_vals[i], rev, rev, 1)
            ON CONFLICT (key) DO UPDATE
                SET value = excluded.value, mod_revision = rev, version = kv.version + 1;
        END IF;
    END LOOP;
    RETURN QUERY SELECT NULL::int4, rev;
END
$fn$;
"#,
    },
    Migration {
        version: 3,
        description: "ferrostack_txn notifies watchers of each commit (LISTEN ferrostack_commits)",
        sql: r#"
CREATE OR REPLACE FUNCTION ferrostack_txn(
    c_keys text[], c_kinds int2[], c_revs int8[], c_vals bytea[],
    o_keys text[], o_vals bytea[])
RETURNS TABLE (failed_at int4, committed_revision int8)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    rev int8;
    n_ops int4 := coalesce(array_length(o_keys, 1), 0);
    cur record;
    ok boolean;
    note text;
BEGIN
    -- The single counter row is the commit lock: writers take it exclusively, read-only
    -- transactions shared. Once held, every statement below sees every earlier commit
    -- (READ COMMITTED takes a fresh snapshot per statement) and no other writer can commit.
    IF n_ops > 0 THEN
        SELECT m.revision INTO rev FROM ferrostack_meta m FOR UPDATE;
    ELSE
        SELECT m.revision INTO rev FROM ferrostack_meta m FOR SHARE;
    END IF;
    FOR i IN 1 .. coalesce(array_length(c_keys, 1), 0) LOOP
        SELECT kv.value, kv.mod_revision INTO cur FROM ferrostack_kv kv WHERE kv.key = c_keys[i];
        ok := CASE c_kinds[i]
            WHEN 0 THEN FOUND
            WHEN 1 THEN NOT FOUND
            WHEN 2 THEN FOUND AND cur.mod_revision = c_revs[i]
            WHEN 3 THEN FOUND AND cur.value = c_vals[i]
            ELSE false
        END;
        IF NOT coalesce(ok, false) THEN
            RETURN QUERY SELECT i - 1, NULL::int8;
            RETURN;
        END IF;
    END LOOP;
    IF n_ops = 0 THEN
        RETURN QUERY SELECT NULL::int4, rev;
        RETURN;
    END IF;
    rev := rev + 1;
    UPDATE ferrostack_meta SET revision = rev;
    FOR i IN 1 .. n_ops LOOP
        IF o_vals[i] IS NULL THEN
            DELETE FROM ferrostack_kv kv WHERE kv.key = o_keys[i];
        ELSE
            INSERT INTO ferrostack_kv AS kv (key, value, create_revision, mod_revision, version)
            VALUES (o_keys[i], o_vals[i], rev, rev, 1)
            ON CONFLICT (key) DO UPDATE
                SET value = excluded.value, mod_revision = rev, version = kv.version + 1;
        END IF;
    END LOOP;
    -- Watchers (PostgresStore::watch) learn of the commit; delivered in commit order.
    note := json_build_object('revision', rev,
        'keys', (SELECT json_agg(DISTINCT k) FROM unnest(o_keys) AS k))::text;
    IF octet_length(note) > 7900 THEN
        note := json_build_object('revision', rev)::text;
    END IF;
    PERFORM pg_notify('ferrostack_commits', note);
    RETURN QUERY SELECT NULL::int4, rev;
END
$fn$;
"#,
    },
];

/// The schema version this build writes and reads.
pub(crate) fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Why migrating failed.
#[derive(Debug)]
pub(crate) enum MigrateError {
    /// The database talks to a newer build.
    TooNew { found: i32, known: i32 },
    /// The database failed.
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Db(e)
    }
}

/// Brings the schema up to [`latest_version`] in one transaction, holding an advisory lock so
/// that concurrent processes migrate one at a time. Returns the version before migrating.
pub(crate) async fn migrate(client: &mut Client) -> Result<i32, MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS ferrostack_migrations (
             version int4 PRIMARY KEY,
             description text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let row =
        tx.query_one("SELECT coalesce(max(version), 0) FROM ferrostack_migrations", &[]).await?;
    let current: i32 = row.get(0);
    if current > latest_version() {
        return Err(MigrateError::TooNew { found: current, known: latest_version() });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tracing::info!(version = m.version, description = m.description, "applying migration");
        tx.batch_execute(m.sql).await?;
        tx.execute(
            "INSERT INTO ferrostack_migrations (version, description) VALUES ($1, $2)",
            &[&m.version, &m.description],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_consecutively_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.description);
        }
        assert_eq!(latest_version(), MIGRATIONS.len() as i32);
    }
}
