-- Periodic sweeps, so that replicas sharing a store sweep once per period
-- between them: a replica sweeps only under the store's sweep lock (a
-- PostgreSQL advisory lock) and only when no sweep finished within the
-- period. A sweep whose replica died keeps finished_at NULL.
CREATE TABLE sweeps (
    id TEXT PRIMARY KEY,
    replica TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX sweeps_started_at ON sweeps (started_at);
