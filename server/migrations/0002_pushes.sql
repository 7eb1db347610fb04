-- Digests the registries said were pushed (notification webhooks), so that
-- an image pushed without facts shows up as unevaluated.
CREATE TABLE pushes (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    tag TEXT,
    registry TEXT NOT NULL,
    source TEXT NOT NULL,
    pushed_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX pushes_digest ON pushes (digest);
