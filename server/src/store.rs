//! The facts store: what a pipeline recorded about each image digest, and the
//! decision it got. SQLite (one file, the default) or PostgreSQL (several
//! replicas), through one portable SQL dialect; schema changes are numbered
//! migrations applied at start-up.

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

/// The schema, in order; never edit a released one, add the next.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "images", include_str!("../migrations/0001_images.sql")),
    (2, "pushes", include_str!("../migrations/0002_pushes.sql")),
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
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the store.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let url = normalize_url(url)?;
        let pool = AnyPoolOptions::new()
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
        let store = Store { pool };
        store.migrate().await?;
        Ok(store)
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

    /// Records (or replaces) an image's facts and decision, in one statement.
    pub async fn put(&self, record: &ImageRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO images (digest, facts, recorded_at, decision, result, evaluated_at, bundle) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (digest) DO UPDATE SET facts = excluded.facts, \
             recorded_at = excluded.recorded_at, decision = excluded.decision, \
             result = excluded.result, evaluated_at = excluded.evaluated_at, bundle = excluded.bundle",
        )
        .bind(&record.digest)
        .bind(record.facts.to_string())
        .bind(record.recorded_at)
        .bind(&record.decision)
        .bind(record.result.to_string())
        .bind(record.evaluated_at)
        .bind(&record.bundle)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(StoreError::Unavailable)
    }

    pub async fn get(&self, digest: &str) -> Result<Option<ImageRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT digest, facts, recorded_at, decision, result, evaluated_at, bundle \
             FROM images WHERE digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::Unavailable)?;
        row.map(|row| record_of(&row)).transpose()
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
        digest,
    })
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
