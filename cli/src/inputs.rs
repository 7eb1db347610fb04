//! Reading the command's inputs: files or stdin, imported and merged into one facts document.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use customs_facts::Facts;
use customs_facts::import::{Format, Origin, detect, import_as};
use customs_registry::ReadImage;
use customs_verify::evidence::Detached;

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

/// Imports every input and merges them into one facts document per image
/// platform (one, unless an image source is a multi-platform index read
/// without `--platform`); importer warnings go to stderr. With trust
/// material, the signatures and attestations among the inputs (and those a
/// registry stores beside an `oci://` image) are checked by customs itself,
/// and those that verify are added as `trust: verified` (crate::trust).
pub fn load(
    paths: &[PathBuf],
    format: Option<Format>,
    platform: Option<&customs_image::Platform>,
    trust: &crate::trust::TrustArgs,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Vec<Facts>> {
    if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
        bail!("standard input (-) can be named only once");
    }
    let mut reports = Vec::with_capacity(paths.len());
    let mut signed_inputs = Vec::new();
    let mut image: Option<ReadImage> = None;
    for path in paths {
        if let Some(text) = path.to_str()
            && customs_image::ImageSource::is_source(text)
        {
            if image.is_some() {
                bail!("{text}: name one image source per run (each is its own image)");
            }
            image = Some(read_image(text, platform)?);
            continue;
        }
        let (origin, bytes) = read(path)?;
        let format = match format {
            Some(format) => format,
            None => detect(&origin, &bytes)?,
        };
        reports.push(import_as(&origin, &bytes, format)?);
        if customs_verify::evidence::is_signed_input(format) {
            signed_inputs.push((origin, format, bytes));
        }
    }
    let Some(image) = image else {
        let mut facts = Facts::merge_all(reports)?;
        crate::trust::verify_inputs(
            trust,
            &signed_inputs,
            &Detached::default(),
            &mut facts,
            now,
            None,
        )?;
        print_warnings(&facts);
        return Ok(vec![facts]);
    };
    if image.platforms.len() > 1 && !reports.is_empty() {
        bail!(
            "{}: a multi-platform index ({}) with other inputs, which each describe one platform's image: choose it with --platform",
            image.source,
            image.platform_names().join(", ")
        );
    }
    let all = crate::trust::verify_image(trust, &image, &reports, &signed_inputs, now)?;
    for facts in &all {
        print_warnings(facts);
    }
    Ok(all)
}

/// [`load`] for commands that decide one image: a multi-platform index
/// needs `--platform`.
pub fn load_one(
    paths: &[PathBuf],
    format: Option<Format>,
    platform: Option<&customs_image::Platform>,
    trust: &crate::trust::TrustArgs,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Facts> {
    let mut all = load(paths, format, platform, trust, now)?;
    if all.len() > 1 {
        bail!(
            "a multi-platform index ({}): choose one with --platform",
            all.iter().map(platform_name).collect::<Vec<_>>().join(", ")
        );
    }
    all.pop().context("the inputs describe no image")
}

fn print_warnings(facts: &Facts) {
    for warning in facts.import_warnings() {
        eprintln!("warning: {}", customs::text::escaped(&warning.to_string()));
    }
}

/// `os/arch[/variant]` of one platform's facts.
pub use customs_registry::platform_name;

/// The image itself, read by customs: each platform's facts, and for a
/// registry image what is stored beside it.
fn read_image(text: &str, platform: Option<&customs_image::Platform>) -> Result<ReadImage> {
    let source = customs_image::ImageSource::parse(text)?;
    let options = customs_image::ReadOptions::default().platform(platform.cloned());
    let read = match &source {
        customs_image::ImageSource::Registry { reference } => {
            let registry = customs_registry::Registry::new(None);
            let read =
                crate::sources::runtime()?.block_on(registry.read_image(reference, &options))?;
            ReadImage::from_registry(source.to_string(), read)?
        }
        _ => ReadImage::local(source.to_string(), customs_image::read(&source, &options)?)?,
    };
    Ok(read)
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
