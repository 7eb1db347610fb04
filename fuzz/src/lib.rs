//! Shared body of the importer fuzz targets: any bytes, read as one format,
//! must give facts or a typed error, never a panic.

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
