-- Facts a pipeline recorded per manifest digest, with the decision they got.
-- Portable SQL: the same file runs on SQLite and PostgreSQL.
CREATE TABLE images (
    digest TEXT PRIMARY KEY,
    facts TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    decision TEXT NOT NULL,
    result TEXT NOT NULL,
    evaluated_at BIGINT NOT NULL,
    bundle TEXT NOT NULL
);
