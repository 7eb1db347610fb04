-- Every admission and facts-store decision, kept for audits and for
-- `customs replay`, which evaluates a decision again from the facts it was
-- made on. Portable SQL: the same file runs on SQLite and PostgreSQL.

-- Facts documents by the SHA-256 of their stored text: a decision names the
-- exact facts it saw even after the pipeline records newer ones.
CREATE TABLE facts_blobs (
    digest TEXT PRIMARY KEY,
    facts TEXT NOT NULL
);
ALTER TABLE images ADD COLUMN facts_digest TEXT;
-- The name of the token that recorded the facts: admission holds them to
-- that token's repositories.
ALTER TABLE images ADD COLUMN writer TEXT;

CREATE TABLE decisions (
    -- A time-ordered UUID (v7).
    id TEXT PRIMARY KEY,
    -- "admission" or "facts".
    kind TEXT NOT NULL,
    -- The AdmissionReview's request.uid; NULL for facts-store decisions.
    uid TEXT,
    namespace TEXT,
    -- "Kind/name" of the workload under review.
    workload TEXT,
    -- "allow" or "deny".
    decision TEXT NOT NULL,
    -- JSON {"denials": [...], "warnings": [...]}, as answered.
    reasons TEXT NOT NULL,
    -- The bundle identity (name, version, sha256 of what decides).
    bundle TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    -- JSON: what a replay needs besides the facts (the workload, the
    -- admission settings in force).
    context TEXT NOT NULL
);
CREATE INDEX decisions_decided_at ON decisions (decided_at);

-- The images a decision was about, one row each.
CREATE TABLE decision_images (
    decision_id TEXT NOT NULL,
    image TEXT NOT NULL,
    -- NULL when the image was not pinned by a digest.
    digest TEXT,
    -- The facts the decision read (facts_blobs.digest); NULL when none were found.
    facts_digest TEXT,
    -- When the pipeline recorded those facts.
    recorded_at BIGINT,
    -- Why no facts were read when some were recorded, as answered then.
    refused TEXT,
    PRIMARY KEY (decision_id, image)
);
CREATE INDEX decision_images_digest ON decision_images (digest);
