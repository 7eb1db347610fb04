//! The facts store: what a pipeline recorded about each image digest, and the
//! decision it got. SQLite (one file, the default) or PostgreSQL (several
//! replicas), through one portable SQL dialect; schema changes are numbered
//! migrations applied at start-up.

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

/// The schema, in order; never edit a released one, add the next.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "images", include_str!("../migrations/0001_images.sql")),
    (2, "pushes", include_str!("../migrations/0002_pushes.sql")),
    (
        3,
        "decisions",
        include_str!("../migrations/0003_decisions.sql"),
    ),
    (4, "sweeps", include_str!("../migrations/0004_sweeps.sql")),
];

/// The migrations above, as sqlx reads a migrations directory.
#[derive(Debug)]
struct Embedded;

impl<'s> sqlx::migrate::MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>>
                + Send
                + 's,
        >,
    > {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, name, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*name),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store URL {0:?} is neither sqlite:PATH nor postgres://...")]
    Url(String),
    #[error("the facts store is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("the facts store's schema cannot be brought up to date: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("the stored record for {digest} is damaged: {reason}")]
    Damaged { digest: String, reason: String },
    #[error("no decision {0} is recorded")]
    NoDecision(String),
    #[error("cannot encode a decision record: {0}")]
    Encode(String),
    #[error(
        "the store's schema is version {found}, this build reads version {expected}: open it with `customs serve` of the same version first"
    )]
    Schema { found: i64, expected: i64 },
}

/// One image's record.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRecord {
    pub digest: String,
    /// The facts document, as recorded.
    pub facts: serde_json::Value,
    /// When the pipeline recorded the facts (Unix seconds).
    pub recorded_at: i64,
    /// "allow" or "deny", from the last evaluation.
    pub decision: String,
    /// The last evaluation, as `customs eval --format json` prints it.
    pub result: serde_json::Value,
    pub evaluated_at: i64,
    /// The bundle that evaluation ran (name and digest).
    pub bundle: String,
    /// The SHA-256 of the facts as stored (`sha256:...`), by which decision
    /// records name them; set by [`Store::put`].
    pub facts_digest: Option<String>,
    /// The name of the token that recorded the facts.
    pub writer: Option<String>,
}

/// The PostgreSQL advisory lock key of the sweep ("customs" in ASCII).
const SWEEP_LOCK: i64 = 0x0063_7573_746f_6d73;

/// This replica's turn to sweep (see [`Store::begin_sweep`]).
pub struct SweepLease {
    /// The connection holding the PostgreSQL advisory lock.
    connection: Option<sqlx::AnyConnection>,
    id: String,
}

/// Closes the lock's connection, which releases the lock.
async fn close(connection: Option<sqlx::AnyConnection>) {
    if let Some(connection) = connection {
        let _ = sqlx::Connection::close(connection).await;
    }
}

/// What a decision was made by: the admission webhook or a facts write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Admission,
    Facts,
}

impl DecisionKind {
    pub fn name(self) -> &'static str {
        match self {
            DecisionKind::Admission => "admission",
            DecisionKind::Facts => "facts",
        }
    }

    fn from_name(name: &str) -> Option<DecisionKind> {
        match name {
            "admission" => Some(DecisionKind::Admission),
            "facts" => Some(DecisionKind::Facts),
            _ => None,
        }
    }
}

/// Why: the lines a decision answered with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reasons {
    pub denials: Vec<String>,
    pub warnings: Vec<String>,
}

/// One image a decision was about, and the facts it read for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedImage {
    /// The image as the workload named it (the digest, for a facts write).
    pub image: String,
    pub digest: Option<String>,
    /// The facts the decision read ([`facts_digest`]); `None` when there were none.
    pub facts_digest: Option<String>,
    /// When the pipeline recorded those facts (Unix seconds).
    pub recorded_at: Option<i64>,
    /// Why no facts were read when some were recorded (the store did not
    /// answer, the writer may not vouch for this image), as answered then.
    pub refused: Option<String>,
}

/// What a replay needs besides the facts and the bundle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionContext {
    /// The workload under review (admission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<customs_facts::Workload>,
    /// The admission settings in force (admission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<AdmissionSettings>,
    /// Who asked: `token NAME` for a facts write, the client certificate's
    /// subject for an admission from the API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// The time the policies saw, when the caller set one (`?now=`) other
    /// than the decision's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_time: Option<i64>,
}

/// The server settings an admission decision depends on besides the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionSettings {
    pub requires: Vec<crate::config::RequiredFact>,
    pub stale: crate::config::StaleFacts,
    pub stale_after_days: i64,
}

/// A decision as recorded: who asked, about which images and facts, under
/// which bundle and settings, what was answered and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub id: String,
    pub kind: DecisionKind,
    /// The AdmissionReview's request uid.
    pub uid: Option<String>,
    pub namespace: Option<String>,
    /// "Kind/name" of the workload under review.
    pub workload: Option<String>,
    /// "allow" or "deny".
    pub decision: String,
    pub reasons: Reasons,
    /// The bundle identity ([`crate::bundle_id`]).
    pub bundle: String,
    /// The time the decision was made and the policies saw (Unix seconds).
    pub decided_at: i64,
    pub images: Vec<DecidedImage>,
    pub context: DecisionContext,
}

/// An image's facts as stored, for admission.
#[derive(Debug, Clone)]
pub struct StoredFacts {
    pub text: String,
    pub recorded_at: i64,
    pub facts_digest: String,
    /// The token that recorded them (`None` for records from before tokens had names).
    pub writer: Option<String>,
}

/// A manifest a registry said was pushed.
#[derive(Debug, Clone, Serialize)]
pub struct Push {
    pub repository: String,
    pub digest: String,
    pub tag: Option<String>,
    /// The registry's host, as its notification named it.
    pub registry: String,
    /// "distribution" or "harbor".
    pub source: String,
    pub pushed_at: i64,
}

/// A stored image's summary, for sweeps.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    pub digest: String,
    pub recorded_at: i64,
    pub decision: String,
    pub evaluated_at: i64,
    pub bundle: String,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of a URL [`normalize_url`] gave.
    fn of(url: &str) -> Backend {
        if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the store.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let url = normalize_url(url)?;
        let sqlite_file = url.starts_with("sqlite:") && !url.contains(":memory:");
        let pool = AnyPoolOptions::new()
            // SQLite's defaults (a rollback journal, a sync on every commit)
            // make readers wait for writers and each decision record cost
            // several fsyncs. Write-ahead logging lets reads go on during a
            // write; NORMAL syncs the log at checkpoints, which keeps every
            // commit across a crash of the process (a power loss can take the
            // last ones). PostgreSQL is the store for stricter needs.
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if sqlite_file {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 5000",
                        ] {
                            sqlx::query(pragma).execute(&mut *connection).await?;
                        }
                    }
                    Ok(())
                })
            })
            // An in-memory SQLite database is per connection: keep one.
            .max_connections(if url.contains(":memory:") {
                1
            } else if url.starts_with("sqlite:") {
                4
            } else {
                16
            })
            // Well inside the API server's 10 s webhook timeout: an outage denies in time.
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url)
            .await
            .map_err(StoreError::Unavailable)?;
        let backend = Backend::of(&url);
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a store a server created, for reading (`customs replay`): a
    /// SQLite file must exist, and no migration runs; a store whose schema
    /// is older or newer than this build's is refused.
    pub async fn open_existing(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let url = normalize_url(url)?.replace("?mode=rwc", "?mode=ro");
        let backend = Backend::of(&url);
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
            .map_err(StoreError::Unavailable)?;
        let applied: Option<i64> = sqlx::query("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|_| {
                StoreError::Url(format!("{url}: not a customs facts store (no schema)"))
            })?;
        let expected = MIGRATIONS.last().map(|(version, _, _)| *version);
        if applied != expected {
            return Err(StoreError::Schema {
                found: applied.unwrap_or(0),
                expected: expected.unwrap_or(0),
            });
        }
        Ok(Store { pool, backend })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::new(Embedded)
            .await
            .map_err(StoreError::Migrate)?
            .run(&self.pool)
            .await
            .map_err(StoreError::Migrate)
    }

    /// Checks the store answers (for /readyz).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(StoreError::Unavailable)
    }

    /// Records (or replaces) an image's facts and decision, and keeps the
    /// facts by their digest for the decisions that will name them; one
    /// transaction. Returns the facts' digest.
    pub async fn put(&self, record: &ImageRecord) -> Result<String, StoreError> {
        let text = record.facts.to_string();
        let facts_digest = facts_digest(&text);
        let mut tx = self.pool.begin().await.map_err(StoreError::Unavailable)?;
        sqlx::query(
            // DO UPDATE, not NOTHING: it locks the row, so a prune running
            // at the same time cannot delete what this record will name.
            "INSERT INTO facts_blobs (digest, facts) VALUES ($1, $2) \
             ON CONFLICT (digest) DO UPDATE SET facts = excluded.facts",
        )
        .bind(&facts_digest)
        .bind(&text)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::Unavailable)?;
        sqlx::query(
            "INSERT INTO images (digest, facts, recorded_at, decision, result, evaluated_at, bundle, facts_digest, writer) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (digest) DO UPDATE SET facts = excluded.facts, \
             recorded_at = excluded.recorded_at, decision = excluded.decision, \
             result = excluded.result, evaluated_at = excluded.evaluated_at, bundle = excluded.bundle, \
             facts_digest = excluded.facts_digest, writer = excluded.writer",
        )
        .bind(&record.digest)
        .bind(&text)
        .bind(record.recorded_at)
        .bind(&record.decision)
        .bind(record.result.to_string())
        .bind(record.evaluated_at)
        .bind(&record.bundle)
        .bind(&facts_digest)
        .bind(&record.writer)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::Unavailable)?;
        tx.commit().await.map_err(StoreError::Unavailable)?;
        Ok(facts_digest)
    }

    pub async fn get(&self, digest: &str) -> Result<Option<ImageRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT digest, facts, recorded_at, decision, result, evaluated_at, bundle, facts_digest, writer \
             FROM images WHERE digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::Unavailable)?;
        row.map(|row| record_of(&row)).transpose()
    }

    /// What admission reads of an image's record: the facts as stored (not
    /// parsed: the caller reads them straight into facts), their time and
    /// digest. A record from before decisions were recorded gets its facts
    /// kept by digest now.
    pub async fn facts_of(&self, digest: &str) -> Result<Option<StoredFacts>, StoreError> {
        let row = sqlx::query(
            "SELECT facts, recorded_at, facts_digest, writer FROM images WHERE digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::Unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let text: String = row.try_get("facts").map_err(StoreError::Unavailable)?;
        let recorded_at: i64 = row
            .try_get("recorded_at")
            .map_err(StoreError::Unavailable)?;
        let kept: Option<String> = row
            .try_get("facts_digest")
            .map_err(StoreError::Unavailable)?;
        let facts_digest = match kept {
            Some(kept) => kept,
            None => {
                let computed = facts_digest(&text);
                self.put_facts_blob(&computed, &text).await?;
                computed
            }
        };
        Ok(Some(StoredFacts {
            text,
            recorded_at,
            facts_digest,
            writer: row.try_get("writer").map_err(StoreError::Unavailable)?,
        }))
    }

    /// Records a push (the latest tag and time win for a repository and digest).
    pub async fn put_push(&self, push: &Push) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pushes (repository, digest, tag, registry, source, pushed_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (repository, digest) DO UPDATE SET tag = excluded.tag, \
             registry = excluded.registry, source = excluded.source, pushed_at = excluded.pushed_at",
        )
        .bind(&push.repository)
        .bind(&push.digest)
        .bind(&push.tag)
        .bind(&push.registry)
        .bind(&push.source)
        .bind(push.pushed_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(StoreError::Unavailable)
    }

    /// Pushed digests for which no facts were ever recorded, oldest first.
    pub async fn unevaluated_pushes(&self) -> Result<Vec<Push>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.repository, p.digest, p.tag, p.registry, p.source, p.pushed_at \
             FROM pushes p LEFT JOIN images i ON i.digest = p.digest \
             WHERE i.digest IS NULL ORDER BY p.pushed_at, p.repository",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::Unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(Push {
                    repository: row.try_get("repository")?,
                    digest: row.try_get("digest")?,
                    tag: row.try_get("tag")?,
                    registry: row.try_get("registry")?,
                    source: row.try_get("source")?,
                    pushed_at: row.try_get("pushed_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Unavailable)
    }

    /// Every stored image, without its facts, by digest.
    pub async fn images(&self) -> Result<Vec<ImageSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT digest, recorded_at, decision, evaluated_at, bundle FROM images ORDER BY digest",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::Unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(ImageSummary {
                    digest: row.try_get("digest")?,
                    recorded_at: row.try_get("recorded_at")?,
                    decision: row.try_get("decision")?,
                    evaluated_at: row.try_get("evaluated_at")?,
                    bundle: row.try_get("bundle")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Unavailable)
    }

    /// Replaces an image's decision after a re-evaluation; its facts and
    /// their time stay as the pipeline recorded them.
    pub async fn update_decision(
        &self,
        digest: &str,
        decision: &str,
        result: &serde_json::Value,
        evaluated_at: i64,
        bundle: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE images SET decision = $1, result = $2, evaluated_at = $3, bundle = $4 \
             WHERE digest = $5",
        )
        .bind(decision)
        .bind(result.to_string())
        .bind(evaluated_at)
        .bind(bundle)
        .bind(digest)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(StoreError::Unavailable)
    }

    /// Writes decision records, all in one transaction (the recorder
    /// batches what arrives while the previous batch commits).
    pub async fn put_decisions(&self, records: &[DecisionRecord]) -> Result<(), StoreError> {
        // One multi-row INSERT per table and chunk rather than one per row:
        // each statement is a round trip (to SQLite's worker thread or to
        // PostgreSQL), and the group commit hands over hundreds at a time.
        let mut tx = self.pool.begin().await.map_err(StoreError::Unavailable)?;
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let mut encoded = Vec::with_capacity(chunk.len());
            for record in chunk {
                encoded.push((json_text(&record.reasons)?, json_text(&record.context)?));
            }
            let sql = multi_row_insert(
                "INSERT INTO decisions (id, kind, uid, namespace, workload, decision, reasons, bundle, decided_at, context) VALUES ",
                10,
                chunk.len(),
                "",
            );
            let mut query = sqlx::query(&sql);
            for (record, (reasons, context)) in chunk.iter().zip(encoded) {
                query = query
                    .bind(&record.id)
                    .bind(record.kind.name())
                    .bind(&record.uid)
                    .bind(&record.namespace)
                    .bind(&record.workload)
                    .bind(&record.decision)
                    .bind(reasons)
                    .bind(&record.bundle)
                    .bind(record.decided_at)
                    .bind(context);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::Unavailable)?;
        }
        let images: Vec<(&str, &DecidedImage)> = records
            .iter()
            .flat_map(|record| {
                record
                    .images
                    .iter()
                    .map(|image| (record.id.as_str(), image))
            })
            .collect();
        for chunk in images.chunks(ROWS_PER_INSERT) {
            let sql = multi_row_insert(
                "INSERT INTO decision_images (decision_id, image, digest, facts_digest, recorded_at, refused) VALUES ",
                6,
                chunk.len(),
                " ON CONFLICT (decision_id, image) DO NOTHING",
            );
            let mut query = sqlx::query(&sql);
            for (id, image) in chunk {
                query = query
                    .bind(*id)
                    .bind(&image.image)
                    .bind(&image.digest)
                    .bind(&image.facts_digest)
                    .bind(image.recorded_at)
                    .bind(&image.refused);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::Unavailable)?;
        }
        tx.commit().await.map_err(StoreError::Unavailable)
    }

    /// Decisions made at or after `since` (Unix seconds) and recorded after
    /// the decision `after` (ids sort by time: the next page starts after
    /// the last id of this one), oldest first, at most `limit`; only those
    /// about `digest` when one is given.
    pub async fn decisions(
        &self,
        since: i64,
        after: &str,
        digest: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        let rows = match digest {
            Some(digest) => {
                sqlx::query(
                    "SELECT id, kind, uid, namespace, workload, decision, reasons, bundle, decided_at, context \
                     FROM decisions WHERE decided_at >= $1 AND id > $2 AND id IN \
                     (SELECT decision_id FROM decision_images WHERE digest = $3) \
                     ORDER BY id LIMIT $4",
                )
                .bind(since)
                .bind(after)
                .bind(digest)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT id, kind, uid, namespace, workload, decision, reasons, bundle, decided_at, context \
                     FROM decisions WHERE decided_at >= $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(since)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(StoreError::Unavailable)?;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut record = decision_of(row)?;
            record.images = self.decision_images(&record.id).await?;
            records.push(record);
        }
        Ok(records)
    }

    /// One decision by its id.
    pub async fn decision(&self, id: &str) -> Result<DecisionRecord, StoreError> {
        let row = sqlx::query(
            "SELECT id, kind, uid, namespace, workload, decision, reasons, bundle, decided_at, context \
             FROM decisions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::Unavailable)?
        .ok_or_else(|| StoreError::NoDecision(id.to_owned()))?;
        let mut record = decision_of(&row)?;
        record.images = self.decision_images(&record.id).await?;
        Ok(record)
    }

    async fn decision_images(&self, id: &str) -> Result<Vec<DecidedImage>, StoreError> {
        let rows = sqlx::query(
            "SELECT image, digest, facts_digest, recorded_at, refused FROM decision_images \
             WHERE decision_id = $1 ORDER BY image",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::Unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(DecidedImage {
                    image: row.try_get("image")?,
                    digest: row.try_get("digest")?,
                    facts_digest: row.try_get("facts_digest")?,
                    recorded_at: row.try_get("recorded_at")?,
                    refused: row.try_get("refused")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Unavailable)
    }

    /// A facts document by its digest, as a decision named it.
    pub async fn facts_blob(&self, digest: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT facts FROM facts_blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::Unavailable)?;
        row.map(|row| row.try_get("facts"))
            .transpose()
            .map_err(StoreError::Unavailable)
    }

    /// Keeps a facts document by its digest (records written before
    /// decisions were recorded have none yet).
    pub async fn put_facts_blob(&self, digest: &str, text: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO facts_blobs (digest, facts) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(text)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(StoreError::Unavailable)
    }

    /// Forgets decisions made (and sweeps started) before `before` (Unix seconds), and the facts
    /// documents that neither a remaining decision nor an image names.
    /// Returns how many decisions went.
    pub async fn prune_decisions(&self, before: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::Unavailable)?;
        sqlx::query(
            "DELETE FROM decision_images WHERE decision_id IN \
             (SELECT id FROM decisions WHERE decided_at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::Unavailable)?;
        sqlx::query("DELETE FROM sweeps WHERE started_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::Unavailable)?;
        let gone = sqlx::query("DELETE FROM decisions WHERE decided_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::Unavailable)?
            .rows_affected();
        sqlx::query(
            "DELETE FROM facts_blobs WHERE digest NOT IN \
             (SELECT facts_digest FROM images WHERE facts_digest IS NOT NULL) \
             AND digest NOT IN \
             (SELECT facts_digest FROM decision_images WHERE facts_digest IS NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(StoreError::Unavailable)?;
        tx.commit().await.map_err(StoreError::Unavailable)?;
        Ok(gone)
    }

    /// Takes the store's sweep lease when a sweep is due: no other replica
    /// is sweeping (a PostgreSQL advisory lock, held on a connection of its
    /// own, so a replica that dies lets go with its connection) and none
    /// started one that finished within `period_secs`. `None`: not this one's turn.
    pub async fn begin_sweep(
        &self,
        replica: &str,
        now: i64,
        period_secs: i64,
    ) -> Result<Option<SweepLease>, StoreError> {
        // SQLite serves one process: no lock to hold (and an in-memory
        // database is one connection, which must stay in the pool).
        let mut connection = match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                self.pool
                    .acquire()
                    .await
                    .map_err(StoreError::Unavailable)?
                    .detach(),
            ),
        };
        if let Some(locker) = &mut connection {
            let locked: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
                .bind(SWEEP_LOCK)
                .fetch_one(&mut *locker)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(StoreError::Unavailable)?;
            if !locked {
                close(connection).await;
                return Ok(None);
            }
        }
        let last: Option<i64> =
            sqlx::query("SELECT MAX(started_at) FROM sweeps WHERE finished_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(StoreError::Unavailable)?;
        if last.is_some_and(|last| now - last < period_secs) {
            close(connection).await; // ends the lock too
            return Ok(None);
        }
        let id = uuid::Uuid::now_v7().to_string();
        let started =
            sqlx::query("INSERT INTO sweeps (id, replica, started_at) VALUES ($1, $2, $3)")
                .bind(&id)
                .bind(replica)
                .bind(now)
                .execute(&self.pool)
                .await;
        if let Err(e) = started {
            close(connection).await;
            return Err(StoreError::Unavailable(e));
        }
        Ok(Some(SweepLease { connection, id }))
    }

    /// Ends a sweep: records it finished and lets go of the lease.
    pub async fn end_sweep(&self, lease: SweepLease, finished_at: i64) -> Result<(), StoreError> {
        let recorded = sqlx::query("UPDATE sweeps SET finished_at = $1 WHERE id = $2")
            .bind(finished_at)
            .bind(&lease.id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(StoreError::Unavailable);
        close(lease.connection).await;
        recorded
    }

    /// The sweeps on record, oldest first (replica, started, finished).
    pub async fn sweeps(&self) -> Result<Vec<(String, i64, Option<i64>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT replica, started_at, finished_at FROM sweeps ORDER BY started_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::Unavailable)?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Unavailable)
    }

    /// How many images the store holds (a metric).
    pub async fn count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM images")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::Unavailable)?;
        row.try_get::<i64, _>(0).map_err(StoreError::Unavailable)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn record_of(row: &sqlx::any::AnyRow) -> Result<ImageRecord, StoreError> {
    let digest: String = row.try_get("digest").map_err(StoreError::Unavailable)?;
    let json = |column: &str| -> Result<serde_json::Value, StoreError> {
        let text: String = row.try_get(column).map_err(StoreError::Unavailable)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Damaged {
            digest: digest.clone(),
            reason: format!("{column}: {e}"),
        })
    };
    Ok(ImageRecord {
        facts: json("facts")?,
        result: json("result")?,
        recorded_at: row
            .try_get("recorded_at")
            .map_err(StoreError::Unavailable)?,
        decision: row.try_get("decision").map_err(StoreError::Unavailable)?,
        evaluated_at: row
            .try_get("evaluated_at")
            .map_err(StoreError::Unavailable)?,
        bundle: row.try_get("bundle").map_err(StoreError::Unavailable)?,
        facts_digest: row
            .try_get("facts_digest")
            .map_err(StoreError::Unavailable)?,
        writer: row.try_get("writer").map_err(StoreError::Unavailable)?,
        digest,
    })
}

fn decision_of(row: &sqlx::any::AnyRow) -> Result<DecisionRecord, StoreError> {
    let id: String = row.try_get("id").map_err(StoreError::Unavailable)?;
    let damaged = |reason: String| StoreError::Damaged {
        digest: format!("decision {id}"),
        reason,
    };
    let text = |column: &str| -> Result<String, StoreError> {
        row.try_get(column).map_err(StoreError::Unavailable)
    };
    let kind = text("kind")?;
    Ok(DecisionRecord {
        kind: DecisionKind::from_name(&kind)
            .ok_or_else(|| damaged(format!("unknown kind {kind:?}")))?,
        uid: row.try_get("uid").map_err(StoreError::Unavailable)?,
        namespace: row.try_get("namespace").map_err(StoreError::Unavailable)?,
        workload: row.try_get("workload").map_err(StoreError::Unavailable)?,
        decision: text("decision")?,
        reasons: serde_json::from_str(&text("reasons")?)
            .map_err(|e| damaged(format!("reasons: {e}")))?,
        bundle: text("bundle")?,
        decided_at: row.try_get("decided_at").map_err(StoreError::Unavailable)?,
        context: serde_json::from_str(&text("context")?)
            .map_err(|e| damaged(format!("context: {e}")))?,
        images: Vec::new(),
        id,
    })
}

/// Rows per multi-row INSERT: at 10 columns, 5,000 parameters, inside
/// SQLite's (32,766) and PostgreSQL's (65,535) limits.
const ROWS_PER_INSERT: usize = 500;

/// `head` followed by `rows` groups of `columns` numbered placeholders
/// (`($1, $2), ($3, $4)`), then `tail`.
fn multi_row_insert(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + rows * columns * 6 + tail.len());
    sql.push_str(head);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * columns + column + 1));
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

fn json_text(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Encode(e.to_string()))
}

/// `sha256:` and the hex SHA-256 of a facts document's stored text.
pub fn facts_digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// `sqlite:PATH` (created if missing), `postgres://...`; a bare path is SQLite.
fn normalize_url(url: &str) -> Result<String, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(url.to_owned());
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    match path {
        Some(":memory:") => Ok("sqlite::memory:".to_owned()),
        Some(path) if !path.is_empty() => Ok(format!("sqlite://{path}?mode=rwc")),
        None if !url.contains("://") && !url.is_empty() => Ok(format!("sqlite://{url}?mode=rwc")),
        _ => Err(StoreError::Url(url.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_in_order_and_a_reopen_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("facts.db").display());
        let store = Store::open(&url).await.unwrap();
        let record = ImageRecord {
            digest: format!("sha256:{}", "a".repeat(64)),
            facts: serde_json::json!({"schema_version": "1"}),
            recorded_at: 1,
            decision: "allow".into(),
            result: serde_json::json!({}),
            evaluated_at: 1,
            bundle: "b".into(),
            facts_digest: None,
            writer: None,
        };
        store.put(&record).await.unwrap();
        store.close().await;

        let store = Store::open(&url).await.unwrap();
        let versions: Vec<i64> =
            sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&store.pool)
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get(0).unwrap())
                .collect();
        let expected: Vec<i64> = MIGRATIONS.iter().map(|(v, _, _)| *v).collect();
        assert_eq!(versions, expected);
        assert_eq!(store.count().await.unwrap(), 1);
        assert_eq!(
            store.get(&record.digest).await.unwrap().unwrap().decision,
            "allow"
        );
    }

    #[tokio::test]
    async fn pruning_forgets_old_decisions_and_the_facts_only_they_named() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let image = |n: char| ImageRecord {
            digest: format!("sha256:{}", n.to_string().repeat(64)),
            facts: serde_json::json!({"schema_version": "1", "n": n.to_string()}),
            recorded_at: 1,
            decision: "allow".into(),
            result: serde_json::json!({}),
            evaluated_at: 1,
            bundle: "b".into(),
            facts_digest: None,
            writer: None,
        };
        let kept_facts = store.put(&image('a')).await.unwrap();
        let old_facts = store.put(&image('b')).await.unwrap();
        // The pipeline records newer facts for b: its old ones are named only
        // by the old decision.
        let mut newer = image('b');
        newer.facts = serde_json::json!({"schema_version": "1", "n": "b2"});
        store.put(&newer).await.unwrap();
        let decision = |id: &str, at: i64, facts: &str| DecisionRecord {
            id: id.into(),
            kind: DecisionKind::Facts,
            uid: None,
            namespace: None,
            workload: None,
            decision: "allow".into(),
            reasons: Reasons::default(),
            bundle: "b".into(),
            decided_at: at,
            images: vec![DecidedImage {
                image: "x".into(),
                digest: None,
                facts_digest: Some(facts.into()),
                recorded_at: Some(1),
                refused: None,
            }],
            context: DecisionContext::default(),
        };
        store
            .put_decisions(&[
                decision("old", 100, &old_facts),
                decision("new", 200, &kept_facts),
            ])
            .await
            .unwrap();
        assert_eq!(store.prune_decisions(150).await.unwrap(), 1);
        assert!(matches!(
            store.decision("old").await,
            Err(StoreError::NoDecision(_))
        ));
        assert_eq!(store.decision("new").await.unwrap().images.len(), 1);
        assert!(store.facts_blob(&old_facts).await.unwrap().is_none());
        assert!(store.facts_blob(&kept_facts).await.unwrap().is_some());
        let remaining: Vec<String> = store
            .decisions(0, "", None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(remaining, ["new"]);
    }

    #[tokio::test]
    async fn a_batch_larger_than_one_insert_keeps_every_record_and_image() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("facts.db").display());
        let store = Store::open(&url).await.unwrap();
        let image = |name: &str| DecidedImage {
            image: name.into(),
            digest: Some(format!("sha256:{}", "b".repeat(64))),
            facts_digest: None,
            recorded_at: None,
            refused: Some("it's refused".into()),
        };
        let records: Vec<DecisionRecord> = (0..ROWS_PER_INSERT * 2 + 7)
            .map(|n| DecisionRecord {
                id: format!("{n:06}"),
                kind: DecisionKind::Admission,
                uid: Some(format!("uid-{n}")),
                namespace: Some("ns".into()),
                workload: None,
                decision: "deny".into(),
                reasons: Reasons {
                    denials: vec![format!("rule {n}")],
                    ..Reasons::default()
                },
                bundle: "b".into(),
                decided_at: n as i64,
                images: vec![image("a"), image("b")],
                context: DecisionContext::default(),
            })
            .collect();
        store.put_decisions(&records).await.unwrap();
        let read = store.decisions(0, "", None, 5_000).await.unwrap();
        assert_eq!(read.len(), records.len());
        let last = store
            .decision(&format!("{:06}", records.len() - 1))
            .await
            .unwrap();
        assert_eq!(last.uid.as_deref(), Some("uid-1006"));
        assert_eq!(last.reasons.denials, ["rule 1006"]);
        assert_eq!(last.images.len(), 2);
        assert_eq!(last.images[1].refused.as_deref(), Some("it's refused"));
        assert_eq!(
            multi_row_insert("INSERT INTO t (a, b) VALUES ", 2, 2, ";"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4);"
        );
    }

    #[test]
    fn store_urls() {
        assert_eq!(
            normalize_url("sqlite:/var/lib/customs.db").unwrap(),
            "sqlite:///var/lib/customs.db?mode=rwc"
        );
        assert_eq!(
            normalize_url("customs.db").unwrap(),
            "sqlite://customs.db?mode=rwc"
        );
        assert_eq!(
            normalize_url("postgres://u@127.0.0.1/db").unwrap(),
            "postgres://u@127.0.0.1/db"
        );
        assert!(normalize_url("mysql://x").is_err());
        assert!(normalize_url("").is_err());
    }
}
