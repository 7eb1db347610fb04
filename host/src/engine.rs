//! The engine: one wasmtime engine per process, an epoch ticker for deadlines,
//! and the single path every evaluation goes through.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::{Linker, ResourceTableError};
use wasmtime::{Store, Trap};

use crate::bindings::{ImageHandle, customs::policy::types as wit_types};
use crate::bundle::{Bundle, BundleEntry};
use crate::error::Error;
use crate::limits::{Limits, truncate};
use crate::policy::{ParamInfo, PolicyInfo, PolicyKind, RuleInfo};
use crate::prepared::{PreparedFacts, severity_from_wit};
use crate::sandbox::{StoreState, linker};
use crate::verdict::{
    self, Decision, Effect, Failure, FailureKind, Finding, ImageRef, PolicyReport,
};

/// How to build an [`Engine`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    pub limits: Limits,
    /// Where compiled policies are cached on disk (keyed by the component's
    /// hash and the engine's settings). `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Policy instances the pooling allocator keeps ready, which is also how
    /// many WebAssembly policies run at once (more wait their turn); 0 uses
    /// on-demand allocation, slower but without reserved address space.
    pub pool_size: u32,
}

/// Enough for one evaluation per core on large machines.
const DEFAULT_POOL_SIZE: u32 = 64;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::default(),
            cache_dir: None,
            pool_size: DEFAULT_POOL_SIZE,
        }
    }
}

impl EngineConfig {
    /// Defaults, with the compile cache in the user's cache directory.
    pub fn with_default_cache() -> EngineConfig {
        EngineConfig {
            cache_dir: dirs::cache_dir().map(|d| d.join("customs").join("wasmtime")),
            ..EngineConfig::default()
        }
    }

    pub fn pool_size(mut self, instances: u32) -> Self {
        self.pool_size = instances;
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }
}

/// Options of one evaluation.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EvalOptions {
    /// The time the policies see as "now" (Unix seconds); the current time when `None`.
    pub now: Option<i64>,
    /// Parts of the facts the image is denied without (rule
    /// `evidence/missing` of the report `evidence`), whatever the policies
    /// say: in CI, `--require vulnerabilities,config` makes a run without a
    /// scan deny, as admission does.
    pub require: Vec<customs_facts::RequiredFact>,
}

impl EvalOptions {
    pub fn at(now: i64) -> EvalOptions {
        EvalOptions {
            now: Some(now),
            require: Vec::new(),
        }
    }
}

/// Evaluates policies against image facts. Cheap to clone, `Send + Sync`:
/// build one per process and share it.
#[derive(Clone)]
pub struct Engine(Arc<EngineInner>);

struct EngineInner {
    wasmtime: wasmtime::Engine,
    linker: Linker<StoreState>,
    limits: Limits,
    /// Deadline in epoch ticks.
    deadline_ticks: u64,
    ticker_stop: Arc<AtomicBool>,
    /// Free pool slots, when instances come from the pooling allocator: a
    /// policy waits for one rather than failing when more evaluations run
    /// at once than the pool holds.
    slots: Option<Slots>,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.0.limits)
            .field("pooling", &self.is_pooling())
            .finish()
    }
}

/// How much of each pooled memory and table stays mapped between instances.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// How often the epoch advances: a tenth of the deadline, between 1 and 10 ms.
fn tick_interval(deadline: Duration) -> Duration {
    (deadline / 10).clamp(Duration::from_millis(1), Duration::from_millis(10))
}

impl Engine {
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        let engine_error = |e: wasmtime::Error| Error::Engine(format!("{e:#}"));
        let mut wasm_config = wasmtime::Config::new();
        wasm_config.wasm_component_model(true);
        wasm_config.epoch_interruption(true);
        if let Some(dir) = &config.cache_dir {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            match wasmtime::Cache::new(cache) {
                Ok(cache) => {
                    wasm_config.cache(Some(cache));
                }
                // A cache is an optimisation: without it everything still works.
                Err(e) => tracing::warn!(
                    "compile cache at {} unavailable, compiling without it: {e:#}",
                    dir.display()
                ),
            }
        }

        // Pooling makes instantiation cheap, but reserves address space up front;
        // where the host refuses that, fall back to on-demand allocation.
        let mut pooling = false;
        let mut engine = None;
        if config.pool_size > 0 {
            let mut pooled = wasm_config.clone();
            let n = config.pool_size;
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(n)
                .total_core_instances(n * 16)
                .total_memories(n * 2)
                .total_tables(n * 16)
                // At least the limits, so growth past them reaches the store's
                // limiter, which names the cause, instead of failing quietly
                // at the pool's own (smaller) bound.
                .table_elements(config.limits.table_elements)
                .max_memory_size(config.limits.memory_bytes.saturating_mul(2));
            // Where Linux can say which pages an instance dirtied (PAGEMAP_SCAN,
            // 6.7+), reset those in place and keep them mapped, instead of
            // giving them back with madvise and faulting them in again on the
            // next call: that round trip was most of a small evaluation's time.
            // Without it, keeping pages resident means zeroing all of them.
            if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() {
                pool.pagemap_scan(wasmtime::Enabled::Yes)
                    .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
                    .table_keep_resident(KEEP_RESIDENT_BYTES);
            }
            pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
            match wasmtime::Engine::new(&pooled) {
                Ok(e) => {
                    pooling = true;
                    engine = Some(e);
                }
                Err(e) => tracing::info!("pooling allocator unavailable, using on-demand: {e:#}"),
            }
        }
        let wasmtime = match engine {
            Some(e) => e,
            None => wasmtime::Engine::new(&wasm_config).map_err(engine_error)?,
        };
        let linker = linker(&wasmtime).map_err(engine_error)?;

        let interval = tick_interval(config.limits.deadline);
        let deadline_ticks =
            (config.limits.deadline.as_nanos() / interval.as_nanos().max(1)) as u64 + 1;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&ticker_stop);
        let ticking = wasmtime.clone();
        std::thread::Builder::new()
            .name("customs-epoch".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(interval);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| Error::Engine(format!("cannot start the deadline ticker: {e}")))?;

        Ok(Engine(Arc::new(EngineInner {
            wasmtime,
            linker,
            limits: config.limits,
            deadline_ticks,
            ticker_stop,
            slots: pooling.then(|| Slots::new(config.pool_size)),
        })))
    }

    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }

    /// Whether instances come from the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.0.slots.is_some()
    }

    pub(crate) fn wasmtime(&self) -> &wasmtime::Engine {
        &self.0.wasmtime
    }

    pub(crate) fn linker(&self) -> &Linker<StoreState> {
        &self.0.linker
    }

    /// Waits for a pool slot (when pooling), held while a store lives.
    fn slot(&self) -> Option<SlotGuard<'_>> {
        self.0.slots.as_ref().map(Slots::acquire)
    }

    /// A store for one call; `now` (Unix seconds) is what the policy's
    /// clocks say: the evaluation time, or 0 while reading metadata.
    fn store(&self, now: i64) -> Store<StoreState> {
        let mut store = Store::new(&self.0.wasmtime, StoreState::new(&self.0.limits, now));
        store.limiter(|state| state);
        store.set_epoch_deadline(self.0.deadline_ticks);
        store.epoch_deadline_trap();
        store
    }

    /// Calls a policy's `metadata` export, under the same limits as evaluation.
    pub(crate) fn read_metadata(
        &self,
        origin: &str,
        pre: &crate::bindings::PolicyPre<StoreState>,
    ) -> Result<PolicyInfo, Error> {
        let _slot = self.slot();
        let mut store = self.store(0);
        let result = pre
            .instantiate(&mut store)
            .and_then(|instance| instance.call_metadata(&mut store));
        let info = result.map_err(|e| Error::Metadata {
            origin: origin.to_owned(),
            reason: self.describe_failure(&store, &e).message,
        })?;
        let field = self.0.limits.max_field_bytes;
        let text = self.0.limits.max_message_bytes;
        let too_long = [&info.name, &info.version]
            .into_iter()
            .chain(info.rules.iter().map(|r| &r.id))
            .chain(info.params.iter().map(|p| &p.name))
            .any(|s| s.len() > field)
            || [&info.description]
                .into_iter()
                .chain(info.rules.iter().map(|r| &r.description))
                .chain(
                    info.params
                        .iter()
                        .flat_map(|p| [&p.description, &p.default_value]),
                )
                .any(|s| s.len() > text)
            || info.rules.len() + info.params.len() > self.0.limits.max_findings;
        if too_long {
            return Err(Error::InvalidMetadata {
                origin: origin.to_owned(),
                reason: "the metadata exceeds the size limits".to_owned(),
            });
        }
        Ok(PolicyInfo {
            name: info.name,
            version: info.version,
            description: info.description,
            rules: info
                .rules
                .into_iter()
                .map(|r| RuleInfo {
                    id: r.id,
                    description: r.description,
                })
                .collect(),
            params: info
                .params
                .into_iter()
                .map(|p| ParamInfo {
                    name: p.name,
                    description: p.description,
                    default_value: p.default_value,
                })
                .collect(),
        })
    }

    /// Evaluates every policy of `bundle` against `facts`: the one decision path.
    ///
    /// Never fails: a policy that traps, times out, runs out of memory or
    /// returns a malformed verdict is reported as an error and denies.
    pub fn evaluate(
        &self,
        bundle: &Bundle,
        facts: &PreparedFacts,
        options: &EvalOptions,
    ) -> Decision {
        let now = options
            .now
            .unwrap_or_else(|| chrono::Utc::now().timestamp());
        let mut reports: Vec<PolicyReport> = bundle
            .entries()
            .iter()
            .map(|entry| self.evaluate_entry(entry, facts, now))
            .collect();
        let image = &facts.facts().image;
        let image = ImageRef {
            reference: image.reference.clone(),
            digest: image.digest.clone(),
        };
        let waivers = match bundle.waivers() {
            Some(waivers) => {
                let outcomes = waivers.apply(&image, now, &mut reports);
                for report in reports.iter_mut().filter(|r| r.error.is_none()) {
                    report.decision = verdict::decide(report.enforcement, &report.findings);
                }
                outcomes
            }
            None => Vec::new(),
        };
        reports.extend(verdict::missing_evidence(facts.facts(), &options.require));
        Decision::from_reports(image, reports, waivers)
    }

    fn evaluate_entry(&self, entry: &BundleEntry, facts: &PreparedFacts, now: i64) -> PolicyReport {
        let info = entry.policy.info();
        let started = Instant::now();
        let outcome = self.run_policy(entry, facts, now);
        let elapsed = started.elapsed();
        match outcome {
            Ok(findings) => verdict::report(
                &info.name,
                &info.version,
                entry.enforcement,
                elapsed,
                findings,
            ),
            Err(Failure { kind, message }) => {
                tracing::warn!(policy = %info.name, "policy failed: {message}");
                verdict::failed(
                    &info.name,
                    &info.version,
                    entry.enforcement,
                    elapsed,
                    kind,
                    format!("policy {} {message}", info.name),
                )
            }
        }
    }

    /// Runs one policy in a fresh store; the error says what went wrong.
    fn run_policy(
        &self,
        entry: &BundleEntry,
        facts: &PreparedFacts,
        now: i64,
    ) -> Result<Vec<Finding>, Failure> {
        let pre = match &entry.policy.0.kind {
            PolicyKind::Wasm(pre) => pre,
            PolicyKind::Cel(program) => {
                let params = entry
                    .cel_params
                    .as_ref()
                    .ok_or_else(|| Failure::new(FailureKind::Host, "has no parameters set up"))?;
                return program.evaluate(facts.inner().cel(), params, now, &self.0.limits);
            }
        };
        let _slot = self.slot();
        let mut store = self.store(now);
        let handle = ImageHandle {
            facts: facts.clone(),
            now,
        };
        let run = (|| {
            let instance = pre.instantiate(&mut store)?;
            let image = store.data_mut().table.push(handle)?;
            instance.call_evaluate(&mut store, image, &entry.params)
        })();
        let output = store.data().guest_output();
        if !output.is_empty() {
            tracing::debug!(policy = %entry.policy.name(), "policy output: {output}");
        }
        match run {
            Ok(Ok(findings)) => self
                .check_findings(entry, findings)
                .map_err(|message| Failure::new(FailureKind::InvalidVerdict, message)),
            Ok(Err(message)) => Err(Failure::new(
                FailureKind::PolicyError,
                format!(
                    "returned an error: {}",
                    truncate(&message, self.0.limits.max_message_bytes)
                ),
            )),
            Err(e) => Err(self.describe_failure(&store, &e)),
        }
    }

    /// Names the cause of a failed call in words a user can act on.
    fn describe_failure(&self, store: &Store<StoreState>, error: &wasmtime::Error) -> Failure {
        let limits = &self.0.limits;
        if store.data().memory_exceeded {
            return Failure::new(
                FailureKind::Memory,
                format!(
                    "exceeded its memory limit of {} MiB",
                    limits.memory_bytes >> 20
                ),
            );
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Failure::new(
                FailureKind::Deadline,
                format!("exceeded its {} ms deadline", limits.deadline.as_millis()),
            ),
            Some(trap) => {
                // One line, so a panic's message ("panicked at src/lib.rs:4:5:\n
                // <message>") stays readable in logs and reports.
                let output = store.data().guest_output();
                let printed = output.split_whitespace().collect::<Vec<_>>().join(" ");
                let message = if printed.is_empty() {
                    format!("failed with a {trap}")
                } else {
                    format!(
                        "failed with a {trap}; it printed: {}",
                        truncate(&printed, 1024)
                    )
                };
                Failure::new(FailureKind::Trap, message)
            }
            None => {
                if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    // exit(0) is not an allow: a verdict is what `evaluate` returns.
                    return Failure::new(
                        FailureKind::Exit,
                        format!("called exit({}) instead of returning a verdict", exit.0),
                    );
                }
                if matches!(
                    error.downcast_ref::<ResourceTableError>(),
                    Some(ResourceTableError::Full)
                ) {
                    return Failure::new(
                        FailureKind::Host,
                        format!(
                            "failed: resource limit: the policy tried to hold more WASI resources (streams, pollables, ...) at once than the cap of {} (Limits::resource_table_entries)",
                            store.data().table.max_capacity()
                        ),
                    );
                }
                // The root cause names what went wrong; the wasm backtrace
                // around it is for the policy's author, at debug level.
                tracing::debug!("policy failure: {error:?}");
                Failure::new(FailureKind::Host, format!("failed: {}", error.root_cause()))
            }
        }
    }

    /// Enforces the output limits and the declared rule ids on a verdict.
    fn check_findings(
        &self,
        entry: &BundleEntry,
        findings: Vec<wit_types::Finding>,
    ) -> Result<Vec<Finding>, String> {
        let limits = &self.0.limits;
        if findings.len() > limits.max_findings {
            return Err(format!(
                "returned {} findings, more than the limit of {}",
                findings.len(),
                limits.max_findings
            ));
        }
        let declared = &entry.policy.info().rules;
        findings
            .into_iter()
            .map(|f| {
                if f.message.len() > limits.max_message_bytes {
                    return Err(format!(
                        "returned a finding message of {} bytes, more than the limit of {}",
                        f.message.len(),
                        limits.max_message_bytes
                    ));
                }
                if f.rule.len() > limits.max_field_bytes
                    || f.subject
                        .as_ref()
                        .is_some_and(|s| s.len() > limits.max_field_bytes)
                {
                    return Err(format!(
                        "returned a rule id or subject longer than {} bytes",
                        limits.max_field_bytes
                    ));
                }
                if !declared.iter().any(|r| r.id == f.rule) {
                    return Err(format!(
                        "returned a finding for rule {:?}, which it does not declare",
                        truncate(&f.rule, 64)
                    ));
                }
                Ok(Finding {
                    rule: f.rule,
                    effect: match f.effect {
                        wit_types::Effect::Deny => Effect::Deny,
                        wit_types::Effect::Warn => Effect::Warn,
                    },
                    severity: severity_from_wit(f.severity),
                    message: f.message,
                    subject: f.subject,
                    waiver: None,
                })
            })
            .collect()
    }
}

/// A counting semaphore over the pooling allocator's instance slots. Taking
/// and returning a slot is one atomic operation each; the lock and condition
/// variable are only touched when the pool is exhausted.
struct Slots {
    free: AtomicU32,
    /// Threads waiting (or about to wait) for a slot.
    waiting: AtomicU32,
    lock: Mutex<()>,
    freed: Condvar,
}

struct SlotGuard<'a>(&'a Slots);

impl Slots {
    fn new(count: u32) -> Slots {
        Slots {
            free: AtomicU32::new(count),
            waiting: AtomicU32::new(0),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    fn try_take(&self) -> bool {
        self.free
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn acquire(&self) -> SlotGuard<'_> {
        if self.try_take() {
            return SlotGuard(self);
        }
        // A poisoned lock only means another thread panicked while holding
        // it; it guards no data.
        let mut held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // Re-checked after announcing the wait: a release either sees the
        // waiter and notifies under the lock, or happened before this check.
        while !self.try_take() {
            held = self
                .freed
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        SlotGuard(self)
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let slots = self.0;
        slots.free.fetch_add(1, Ordering::SeqCst);
        if slots.waiting.load(Ordering::SeqCst) > 0 {
            let _held = slots.lock.lock().unwrap_or_else(PoisonError::into_inner);
            slots.freed.notify_one();
        }
    }
}
