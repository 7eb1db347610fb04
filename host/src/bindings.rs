//! Host side of the `customs:policy` world: generated bindings, and the facts
//! resource served from [`PreparedFacts`](crate::PreparedFacts).

use wasmtime::component::Resource;

use crate::prepared::PreparedFacts;
use crate::sandbox::StoreState;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "customs:policy/policy",
    // Host methods can fail (a handle the guest forged): they trap rather than guess.
    imports: { default: trappable },
    with: {
        "customs:policy/facts.image": ImageHandle,
    },
});

use self::customs::policy::facts as wit;

/// What the guest's `image` resource points at.
#[derive(Debug)]
pub struct ImageHandle {
    pub(crate) facts: PreparedFacts,
    pub(crate) now: i64,
}

impl self::customs::policy::types::Host for StoreState {}
impl wit::Host for StoreState {}

impl StoreState {
    fn image(&self, handle: &Resource<ImageHandle>) -> wasmtime::Result<&ImageHandle> {
        Ok(self.table.get(handle)?)
    }
}

fn matches(query: &wit::VulnerabilityQuery, v: &wit::Vulnerability) -> bool {
    use crate::bindings::customs::policy::facts::{FixState, VexStatus};
    v.severity as u8 >= query.min_severity as u8
        && (!query.fixable_only || v.fix_state == FixState::Fixed || !v.fixed_versions.is_empty())
        && (query.include_suppressed
            || !matches!(
                v.vex_status,
                Some(VexStatus::NotAffected | VexStatus::Fixed)
            ))
}

impl wit::HostImage for StoreState {
    fn info(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<wit::ImageInfo> {
        Ok(self.image(&h)?.facts.inner().info.clone())
    }

    fn now(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<i64> {
        Ok(self.image(&h)?.now)
    }

    fn label(&mut self, h: Resource<ImageHandle>, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self
            .image(&h)?
            .facts
            .facts()
            .image
            .labels
            .get(&key)
            .cloned())
    }

    fn annotation(
        &mut self,
        h: Resource<ImageHandle>,
        key: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self
            .image(&h)?
            .facts
            .facts()
            .image
            .annotations
            .get(&key)
            .cloned())
    }

    fn user(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<Option<wit::User>> {
        Ok(self.image(&h)?.facts.inner().user.clone())
    }

    fn base(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<Option<wit::Base>> {
        Ok(self.image(&h)?.facts.inner().base.clone())
    }

    fn config(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<Option<wit::Config>> {
        Ok(self.image(&h)?.facts.inner().config.clone())
    }

    fn history(
        &mut self,
        h: Resource<ImageHandle>,
    ) -> wasmtime::Result<Option<Vec<wit::HistoryEntry>>> {
        Ok(self.image(&h)?.facts.inner().history.clone())
    }

    fn package_count(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<Option<u32>> {
        Ok(self
            .image(&h)?
            .facts
            .inner()
            .packages
            .as_ref()
            .map(|p| u32::try_from(p.len()).unwrap_or(u32::MAX)))
    }

    fn packages(
        &mut self,
        h: Resource<ImageHandle>,
    ) -> wasmtime::Result<Option<Vec<wit::Package>>> {
        Ok(self.image(&h)?.facts.inner().packages.clone())
    }

    fn find_packages(
        &mut self,
        h: Resource<ImageHandle>,
        names: Vec<String>,
    ) -> wasmtime::Result<Option<Vec<wit::Package>>> {
        Ok(self.image(&h)?.facts.inner().packages.as_ref().map(|list| {
            list.iter()
                .filter(|p| names.contains(&p.name))
                .cloned()
                .collect()
        }))
    }

    fn vulnerabilities(
        &mut self,
        h: Resource<ImageHandle>,
        query: wit::VulnerabilityQuery,
    ) -> wasmtime::Result<Option<Vec<wit::Vulnerability>>> {
        Ok(self
            .image(&h)?
            .facts
            .inner()
            .vulnerabilities
            .as_ref()
            .map(|list| {
                list.iter()
                    .filter(|v| matches(&query, v))
                    .cloned()
                    .collect()
            }))
    }

    fn count_vulnerabilities(
        &mut self,
        h: Resource<ImageHandle>,
        query: wit::VulnerabilityQuery,
    ) -> wasmtime::Result<Option<u32>> {
        Ok(self
            .image(&h)?
            .facts
            .inner()
            .vulnerabilities
            .as_ref()
            .map(|list| {
                let count = list.iter().filter(|v| matches(&query, v)).count();
                u32::try_from(count).unwrap_or(u32::MAX)
            }))
    }

    fn secrets(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<Option<Vec<wit::Secret>>> {
        Ok(self.image(&h)?.facts.inner().secrets.clone())
    }

    fn misconfigurations(
        &mut self,
        h: Resource<ImageHandle>,
    ) -> wasmtime::Result<Option<Vec<wit::Misconfiguration>>> {
        Ok(self.image(&h)?.facts.inner().misconfigurations.clone())
    }

    fn signatures(
        &mut self,
        h: Resource<ImageHandle>,
    ) -> wasmtime::Result<Option<Vec<wit::Signature>>> {
        Ok(self.image(&h)?.facts.inner().signatures.clone())
    }

    fn attestations(
        &mut self,
        h: Resource<ImageHandle>,
    ) -> wasmtime::Result<Option<Vec<wit::Attestation>>> {
        Ok(self.image(&h)?.facts.inner().attestations.clone())
    }

    fn workload(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<Option<wit::Workload>> {
        Ok(self.image(&h)?.facts.inner().workload.clone())
    }

    fn executables(
        &mut self,
        h: Resource<ImageHandle>,
    ) -> wasmtime::Result<Option<Vec<wit::Executable>>> {
        Ok(self.image(&h)?.facts.inner().executables.clone())
    }

    fn world_writable(
        &mut self,
        h: Resource<ImageHandle>,
    ) -> wasmtime::Result<Option<Vec<String>>> {
        Ok(self.image(&h)?.facts.inner().world_writable.clone())
    }

    fn facts_json(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<String> {
        Ok(self.image(&h)?.facts.inner().json().to_owned())
    }

    fn drop(&mut self, h: Resource<ImageHandle>) -> wasmtime::Result<()> {
        // The host owns the image; a guest can only drop its borrow, never the facts.
        self.table.delete(h)?;
        Ok(())
    }
}
