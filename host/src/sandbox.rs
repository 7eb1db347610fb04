//! The per-evaluation store: resource limits, and the WASI that language
//! runtimes (CPython, SpiderMonkey, wasi-libc) import, linked with nothing
//! behind it.
//!
//! A policy gets no ambient capability: no preopened directory (every path
//! fails), no network (every socket and name lookup is refused), no
//! environment or arguments, empty stdin, and stdout/stderr captured into one
//! capped buffer. Clocks are frozen at the evaluation time, which the facts
//! interface gives as `image.now()`, and random numbers come from a fixed
//! seed: the same facts give the same verdict. Interfaces outside
//! [`GRANTED_PACKAGES`] (HTTP, key-value stores, ...) are not linked, so a
//! policy importing one fails to load with a message naming it.

use std::time::Duration;

use rand::SeedableRng;
use wasmtime::ResourceLimiter;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::p2::bindings::random::{insecure, random};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::limits::Limits;

/// Data of one evaluation's `Store`.
pub(crate) struct StoreState {
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    output: MemoryOutputPipe,
    memory_cap: usize,
    table_cap: usize,
    /// Most bytes one `wasi:random` call may ask for.
    random_cap: usize,
    /// Set when the policy tried to grow memory past the cap, to name the cause.
    pub(crate) memory_exceeded: bool,
}

impl StoreState {
    /// `now`: the evaluation time in Unix seconds, which the clocks report.
    pub(crate) fn new(limits: &Limits, now: i64) -> StoreState {
        let output = MemoryOutputPipe::new(limits.max_guest_output_bytes);
        // Empty stdin, no environment, no arguments, no preopens, no network:
        // stdout and stderr go to one capped buffer that the host may log.
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .wall_clock(FrozenWallClock(Duration::from_secs(
                u64::try_from(now).unwrap_or(0),
            )))
            .monotonic_clock(FrozenMonotonicClock)
            .secure_random(rand::rngs::SmallRng::seed_from_u64(RANDOM_SEED))
            .insecure_random(rand::rngs::SmallRng::seed_from_u64(RANDOM_SEED))
            .insecure_random_seed(u128::from(RANDOM_SEED))
            // [`linker`] checks first, to name the limit; this is the backstop.
            .max_random_size(u64::try_from(limits.wasi_random_bytes).unwrap_or(u64::MAX))
            .build();
        // Every stream, pollable and the facts image live here: a full table
        // fails the call that needed a slot (see `describe_failure`).
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.resource_table_entries);
        StoreState {
            table,
            wasi,
            output,
            memory_cap: limits.memory_bytes,
            table_cap: limits.table_elements,
            random_cap: limits.wasi_random_bytes,
            memory_exceeded: false,
        }
    }

    /// What the policy printed (capped), lossily decoded.
    pub(crate) fn guest_output(&self) -> String {
        String::from_utf8_lossy(&self.output.contents()).into_owned()
    }
}

/// The seed of a policy's random numbers: fixed, so verdicts are repeatable.
const RANDOM_SEED: u64 = 0x0063_7573_746f_6d73; // "customs"

/// A wall clock that always says the evaluation time.
struct FrozenWallClock(Duration);

impl wasmtime_wasi::HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that does not move: a policy cannot time anything (no
/// timing side channels); waits on it end at once (see [`linker`]).
struct FrozenMonotonicClock;

impl wasmtime_wasi::HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for StoreState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_exceeded = true;
            wasmtime::bail!(
                "memory limit: the policy tried to grow its memory to {desired} bytes, over the cap of {} bytes",
                self.memory_cap
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_cap {
            wasmtime::bail!(
                "table limit: the policy tried to grow a table to {desired} elements, over the cap of {}",
                self.table_cap
            );
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        8
    }
}

/// The packages [`linker`] links, by name without version. Loading checks a
/// component's imports against this list first, so a refusal names every
/// import outside it rather than only the first the linker trips on.
const GRANTED_PACKAGES: &[&str] = &[
    "customs:policy",
    "wasi:io",
    "wasi:cli",
    "wasi:clocks",
    "wasi:random",
    "wasi:filesystem",
    "wasi:sockets",
];

/// The version of the customs:policy WIT package this host provides.
pub(crate) const WIT_VERSION: &str = "0.1.0";

/// The version of customs:policy a component imports, when it is not the
/// one this host provides: a policy built for another customs.
pub(crate) fn foreign_wit_version(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Option<String> {
    component
        .component_type()
        .imports(engine)
        .filter_map(|(name, _)| name.strip_prefix("customs:policy/"))
        .filter_map(|interface| interface.split_once('@').map(|(_, version)| version))
        .find(|version| *version != WIT_VERSION)
        .map(str::to_owned)
}

/// The imports of `component` that name an interface customs does not grant.
pub(crate) fn ungranted_imports(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        // Type imports (the world's `use`) come with the interface that defines them.
        .filter(|(_, item)| {
            !matches!(
                item.ty,
                wasmtime::component::types::ComponentItem::Type(_)
                    | wasmtime::component::types::ComponentItem::Resource(_)
            )
        })
        .map(|(name, _)| name)
        .filter(|name| {
            let package = name.split_once('/').map_or(*name, |(package, _)| package);
            !GRANTED_PACKAGES.contains(&package)
        })
        .map(str::to_owned)
        .collect()
}

/// Links the policy world and WASI 0.2 ([`GRANTED_PACKAGES`]); what WASI
/// can reach is set per store by [`StoreState::new`].
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    crate::bindings::Policy::add_to_linker::<StoreState, wasmtime::component::HasSelf<StoreState>>(
        &mut linker,
        |state: &mut StoreState| state,
    )?;
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    // Waiting on a clock would block the host thread in host code, where the
    // deadline cannot interrupt it (a policy sleeping for an hour held its
    // thread for an hour). Time is frozen for a policy anyway: waits end at once.
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    for wait in ["subscribe-duration", "subscribe-instant"] {
        clock.func_wrap(
            wait,
            |mut store: wasmtime::StoreContextMut<'_, StoreState>, (_,): (u64,)| {
                let table = &mut store.data_mut().table;
                let no_wait = table.push(NoWait)?;
                Ok((wasmtime_wasi_io::poll::subscribe(table, no_wait)?,))
            },
        )?;
    }
    // wasmtime-wasi refuses an over-sized random call (the same cap, set by
    // `StoreState::new`) with a message that names no limit: these check
    // first and name it.
    let mut random = linker.instance(RANDOM)?;
    random.func_wrap(
        "get-random-bytes",
        |mut store: wasmtime::StoreContextMut<'_, StoreState>, (len,): (u64,)| {
            let state = store.data_mut();
            check_random_len(len, state.random_cap)?;
            Ok((random::Host::get_random_bytes(state.wasi.random(), len)?,))
        },
    )?;
    let mut insecure = linker.instance(INSECURE_RANDOM)?;
    insecure.func_wrap(
        "get-insecure-random-bytes",
        |mut store: wasmtime::StoreContextMut<'_, StoreState>, (len,): (u64,)| {
            let state = store.data_mut();
            check_random_len(len, state.random_cap)?;
            Ok((insecure::Host::get_insecure_random_bytes(
                state.wasi.random(),
                len,
            )?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(linker)
}

/// Fails a `wasi:random` call that asks for more than `cap` bytes.
fn check_random_len(len: u64, cap: usize) -> wasmtime::Result<()> {
    if !usize::try_from(len).is_ok_and(|len| len <= cap) {
        wasmtime::bail!(
            "random limit: the policy asked for {len} random bytes in one call, over the cap of {cap} (Limits::wasi_random_bytes)"
        );
    }
    Ok(())
}

/// The monotonic clock interface as wasmtime-wasi links it (policies built
/// for any 0.2.x match it); the hostile suite's `sleeps` case fails if an
/// upgrade moves it and a wait blocks again.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The random interfaces as wasmtime-wasi links them; the hostile suite's
/// `huge_random` case fails if an upgrade moves them and the cap goes unnamed.
const RANDOM: &str = "wasi:random/random@0.2.12";
const INSECURE_RANDOM: &str = "wasi:random/insecure@0.2.12";

/// What a wait on a policy's clock gives: ready at once.
struct NoWait;

#[async_trait::async_trait]
impl wasmtime_wasi_io::poll::Pollable for NoWait {
    async fn ready(&mut self) {}
}
