//! Embedded, forward-only, versioned schema migrations.

/// (version, SQL) in order. Never edit a released migration: append a new one.
pub const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_tokens_grants.sql")),
    (3, include_str!("../../migrations/sqlite/0003_review_hardening.sql")),
];

/// The same versions for PostgreSQL (BOOLEAN, BIGINT, BYTEA; the same meaning column for column).
pub const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_tokens_grants.sql")),
    (3, include_str!("../../migrations/postgres/0003_review_hardening.sql")),
];
