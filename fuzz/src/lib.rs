//! Shared bodies of the fuzz targets: any bytes, read as one importer's
//! format, a CEL policy, a bundle manifest or archive, or a waivers file,
//! must give a value or a typed error, never a panic.

use customs_facts::Facts;
use customs_facts::import::{Format, Origin, import_as, import_bytes};

pub fn import_as_format(name: &str, data: &[u8]) {
    let origin = Origin::named("fuzz");
    let Some(format) = Format::from_name(name) else {
        return;
    };
    if let Ok(facts) = import_as(&origin, data, format) {
        // Whatever imports must also serialize, read back, and merge with itself.
        if let Ok(json) = serde_json::to_vec(&facts) {
            let _ = import_bytes(&origin, &json);
        }
        let _ = Facts::merge_all([facts.clone(), facts]);
    }
}

pub fn import_detected(data: &[u8]) {
    let _ = import_bytes(&Origin::named("fuzz"), data);
}

/// The engine CEL policies load into (one per fuzzing process).
fn engine() -> &'static customs::Engine {
    static ENGINE: std::sync::OnceLock<customs::Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        customs::Engine::new(customs::EngineConfig::default().pool_size(0))
            .expect("the engine starts")
    })
}

pub fn cel_policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = engine().load_cel_policy("fuzz.yaml", text) {
        // What loads must also evaluate (to a verdict or a policy error).
        let mut bundle = customs::Bundle::new("fuzz");
        if bundle.add(policy).is_ok() {
            let facts = customs::PreparedFacts::new(Facts::default());
            let _ = engine().evaluate(&bundle, &facts, &customs::EvalOptions::at(0));
        }
    }
}

pub fn bundle_manifest(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = customs::Manifest::parse("fuzz.yaml", text);
    }
}

pub fn bundle_archive(data: &[u8]) {
    let limits = customs::ArchiveLimits::default();
    if let Ok(files) = customs::BundleFiles::read_archive("fuzz.tar.gz", data, &limits) {
        let _ = files.verify();
    }
}

pub fn waivers(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = customs::Waivers::parse("fuzz.yaml", text);
    }
}
