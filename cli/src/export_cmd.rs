//! `customs export falco`: what each image may run, as Falco rules, so that
//! a program started in a container that is not in its image (runtime
//! drift: a downloaded binary, a shell dropped in /tmp) raises an alert.
//!
//! The executables are the ones customs read from the image's layers
//! (`files.executables`), each with the target of the links among them:
//! Falco's `proc.exepath` names the program the kernel ran, a link's target.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use customs_facts::Facts;

#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    what: Export,
}

#[derive(Subcommand)]
enum Export {
    /// A Falco rules file: per image, a list of its executables and a rule
    /// that alerts on any other program started in a container of it.
    Falco(FalcoArgs),
}

#[derive(Args)]
struct FalcoArgs {
    /// One image each: the image itself (oci-layout:DIR[:TAG|@DIGEST],
    /// docker-archive:FILE[:TAG]) or a facts document `customs facts` wrote
    /// from it.
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<PathBuf>,
    /// Of an image that is a multi-platform index, this platform (os/arch[/variant]).
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<customs_image::Platform>,
    /// Match containers by the image's manifest digest (exact) or by its
    /// repository (every tag and digest of it).
    #[arg(long = "match", value_enum, default_value_t = Match::Digest)]
    match_by: Match,
    /// Falco priority of the drift alerts.
    #[arg(long, default_value = "WARNING", value_parser = ["EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG"])]
    priority: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum Match {
    Digest,
    Repository,
}

pub fn run(args: ExportArgs) -> Result<u8> {
    match args.what {
        Export::Falco(args) => {
            let mut images = Vec::with_capacity(args.images.len());
            for input in &args.images {
                let facts = crate::inputs::load_one(
                    std::slice::from_ref(input),
                    None,
                    args.platform.as_ref(),
                    &crate::trust::TrustArgs::default(),
                    None,
                )?;
                images.push((input.display().to_string(), facts));
            }
            print!("{}", falco_rules(&images, args.match_by, &args.priority)?);
            Ok(crate::EXIT_ALLOWED)
        }
    }
}

/// The rules file for these images (named by the input they came from).
fn falco_rules(images: &[(String, Facts)], match_by: Match, priority: &str) -> Result<String> {
    let mut out = format!(
        "# Falco rules written by customs {} (customs export falco): for each image,\n\
         # the executables customs read from its layers, and a rule that alerts when a\n\
         # container of that image starts any other program (runtime drift).\n",
        env!("CARGO_PKG_VERSION")
    );
    for (input, facts) in images {
        let Some(files) = &facts.files else {
            bail!(
                "{input}: the facts hold no files: give the image itself (oci-layout:, docker-archive:) or facts `customs facts` read from it"
            );
        };
        let (field, value) = match match_by {
            Match::Digest => match &facts.image.digest {
                Some(digest) => ("container.image.digest", digest.clone()),
                None => bail!(
                    "{input}: the image's manifest digest is unknown (a docker archive without an OCI index?): use --match repository"
                ),
            },
            Match::Repository => match repository(facts) {
                Some(repository) => ("container.image.repository", repository),
                None => bail!(
                    "{input}: the image names no repository (a layout without a full reference?): use --match digest"
                ),
            },
        };
        let mut programs: BTreeSet<&str> = BTreeSet::new();
        for executable in &files.executables {
            for path in std::iter::once(&executable.path).chain(&executable.link_target) {
                // Falco pastes list items into the condition as text: a path
                // it could misread is left out, so running it alerts.
                if path
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !"\\\"(),=".contains(c))
                {
                    programs.insert(path);
                } else {
                    eprintln!(
                        "warning: {input}: {} is left out of the list (characters Falco could misread); running it will alert",
                        customs::text::escaped(path)
                    );
                }
            }
        }
        let name = facts
            .image
            .reference
            .clone()
            .or_else(|| facts.image.digest.clone())
            .unwrap_or_else(|| input.clone());
        // Named after what is matched, so lists of separately exported files
        // do not collide (Falco keeps the last definition of a name).
        let key: String = value
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let list = format!("customs_{key}_executables");
        let items: Vec<String> = programs.iter().map(|p| quoted_item(p)).collect();
        writeln!(out, "\n- list: {list}")?;
        writeln!(out, "  items: [{}]", items.join(", "))?;
        writeln!(
            out,
            "\n- rule: {}",
            yaml(&format!("customs drift in {name} ({value})"))
        )?;
        writeln!(
            out,
            "  desc: {}",
            yaml(&format!(
                "A container of {name} started a program that is not one of the {} executables customs read from the image ({field} = {value})",
                programs.len()
            ))
        )?;
        // A container started by a multi-platform tag is known to the
        // runtime by the index digest: it matches as well as the manifest's.
        let matched = match (match_by, &facts.image.index_digest) {
            (Match::Digest, Some(index)) if *index != value => format!(
                "{field} in ({}, {})",
                falco_string(&value),
                falco_string(index)
            ),
            _ => format!("{field} = {}", falco_string(&value)),
        };
        let condition = format!(
            "evt.type in (execve, execveat) and evt.dir = < and container.id != host and {matched} and not proc.exepath in ({list})"
        );
        writeln!(out, "  condition: {}", yaml(&condition))?;
        writeln!(
            out,
            "  output: {}",
            yaml(
                "Program not in the image started (exe=%proc.exepath cmdline=%proc.cmdline user=%user.name container=%container.id image=%container.image.repository digest=%container.image.digest)"
            )
        )?;
        writeln!(out, "  priority: {priority}")?;
        writeln!(out, "  tags: [container, drift, customs]")?;
    }
    Ok(out)
}

/// The repository the image was pushed to, without tag or digest.
fn repository(facts: &Facts) -> Option<String> {
    match (&facts.image.registry, &facts.image.repository) {
        (Some(registry), Some(repository)) => Some(format!("{registry}/{repository}")),
        (None, Some(repository)) => Some(repository.clone()),
        _ => None,
    }
}

/// A list item Falco reads as one string whatever it holds: a Falco
/// double-quoted string, written as a YAML string.
fn quoted_item(path: &str) -> String {
    yaml(&falco_string(path))
}

/// A Falco condition string literal.
fn falco_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A YAML scalar: a JSON string is a valid YAML double-quoted scalar.
fn yaml(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}
