//! The per-evaluation store: resource limits, and the little WASI a policy's
//! language runtime needs (stdio and exit, with nothing behind them).
//!
//! Policies get no filesystem, sockets, clocks, random or environment: those
//! interfaces are not linked at all, so a policy that imports one fails to load
//! with a message naming the import.

use wasmtime::ResourceLimiter;
use wasmtime::component::{Linker, ResourceTable};
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
    /// Set when the policy tried to grow memory past the cap, to name the cause.
    pub(crate) memory_exceeded: bool,
}

impl StoreState {
    pub(crate) fn new(limits: &Limits) -> StoreState {
        let output = MemoryOutputPipe::new(limits.max_guest_output_bytes);
        // Empty stdin, no environment, no arguments, no preopens: stdout and
        // stderr go to one capped buffer that the host may log.
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .build();
        StoreState {
            table: ResourceTable::new(),
            wasi,
            output,
            memory_cap: limits.memory_bytes,
            table_cap: limits.table_elements,
            memory_exceeded: false,
        }
    }

    /// What the policy printed (capped), lossily decoded.
    pub(crate) fn guest_output(&self) -> String {
        String::from_utf8_lossy(&self.output.contents()).into_owned()
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

/// The interfaces [`linker`] grants, by name without version. Loading checks
/// a component's imports against this list first, so a refusal names every
/// import outside it rather than only the first the linker trips on.
const GRANTED_INTERFACES: &[&str] = &[
    "customs:policy/types",
    "customs:policy/facts",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/exit",
    "wasi:cli/environment",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
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
            let interface = name
                .split_once('@')
                .map_or(*name, |(interface, _)| interface);
            !GRANTED_INTERFACES.contains(&interface)
        })
        .map(str::to_owned)
        .collect()
}

/// Links the policy world and the granted WASI interfaces ([`GRANTED_INTERFACES`]).
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<StoreState>> {
    use wasmtime_wasi::cli::WasiCli;
    use wasmtime_wasi::p2::bindings::{cli, sync::io};

    let mut linker = Linker::new(engine);
    crate::bindings::Policy::add_to_linker::<StoreState, wasmtime::component::HasSelf<StoreState>>(
        &mut linker,
        |state: &mut StoreState| state,
    )?;
    let l = &mut linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<_, HasTable>(
        l,
        |s: &mut StoreState| &mut s.table,
    )?;
    io::poll::add_to_linker::<_, HasTable>(l, |s: &mut StoreState| &mut s.table)?;
    io::streams::add_to_linker::<_, HasTable>(l, |s: &mut StoreState| &mut s.table)?;
    cli::exit::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    cli::environment::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    cli::stdin::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    cli::stdout::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    cli::stderr::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    cli::terminal_input::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    cli::terminal_output::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, wasmtime_wasi::cli::WasiCliView::cli)?;
    Ok(linker)
}

struct HasTable;

impl wasmtime::component::HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}
