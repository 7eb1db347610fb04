//! Reading the command's inputs: files or stdin, imported and merged into one facts document.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use customs_facts::Facts;
use customs_facts::import::{Format, Origin, detect, import_as};

/// Inputs larger than this are refused rather than read into memory.
const MAX_INPUT_BYTES: u64 = 1 << 30;

pub fn parse_format(name: &str) -> Result<Format, String> {
    Format::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!(
            "unknown format {name:?}; known formats: {}",
            known.join(", ")
        )
    })
}

/// Imports every input and merges them; importer warnings go to stderr.
/// With trust material, the signatures and attestations among the inputs
/// are checked by customs itself, and those that verify are added as
/// `trust: verified` (crate::trust).
pub fn load(
    paths: &[PathBuf],
    format: Option<Format>,
    platform: Option<&customs_image::Platform>,
    trust: &crate::trust::TrustArgs,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Facts> {
    if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
        bail!("standard input (-) can be named only once");
    }
    let mut all = Vec::with_capacity(paths.len());
    let mut signed_inputs = Vec::new();
    for path in paths {
        if let Some(text) = path.to_str()
            && customs_image::ImageSource::is_source(text)
        {
            all.push(read_image(text, platform)?);
            continue;
        }
        let (origin, bytes) = read(path)?;
        let format = match format {
            Some(format) => format,
            None => detect(&origin, &bytes)?,
        };
        all.push(import_as(&origin, &bytes, format)?);
        if customs_verify::evidence::is_signed_input(format) {
            signed_inputs.push((origin, format, bytes));
        }
    }
    let mut facts = Facts::merge_all(all)?;
    crate::trust::verify_inputs(trust, &signed_inputs, &mut facts, now)?;
    for warning in facts.import_warnings() {
        eprintln!("warning: {}", customs::text::escaped(&warning.to_string()));
    }
    Ok(facts)
}

/// The image itself, read by customs: one platform's facts.
fn read_image(text: &str, platform: Option<&customs_image::Platform>) -> Result<Facts> {
    let source = customs_image::ImageSource::parse(text)?;
    let options = customs_image::ReadOptions::default().platform(platform.cloned());
    let mut all = customs_image::read(&source, &options)?;
    if all.len() > 1 {
        let platforms: Vec<String> = all
            .iter()
            .map(|f| {
                format!(
                    "{}/{}",
                    f.image.os.as_deref().unwrap_or("?"),
                    f.image.architecture.as_deref().unwrap_or("?")
                )
            })
            .collect();
        bail!(
            "{source}: a multi-platform index ({}): choose one with --platform",
            platforms.join(", ")
        );
    }
    all.pop()
        .with_context(|| format!("{source}: the index lists no image"))
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn read(path: &Path) -> Result<(Origin, Vec<u8>)> {
    let mut bytes = Vec::new();
    if is_stdin(path) {
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
        check_size(&Origin::stdin(), bytes.len() as u64)?;
        return Ok((Origin::stdin(), bytes));
    }
    let origin = Origin::file(path);
    let file =
        std::fs::File::open(path).with_context(|| format!("{origin}: cannot open the input"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    check_size(&origin, size)?;
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{origin}: cannot read the input"))?;
    check_size(&origin, bytes.len() as u64)?;
    Ok((origin, bytes))
}

fn check_size(origin: &Origin, size: u64) -> Result<()> {
    if size > MAX_INPUT_BYTES {
        bail!(
            "{origin}: the input is larger than {} MiB",
            MAX_INPUT_BYTES >> 20
        );
    }
    Ok(())
}
