//! `customs export falco`: what each image may run, as Falco rules, so that
//! a program started in a container that is not in its image (runtime
//! drift: a downloaded binary, a shell dropped in /tmp) raises an alert.
//!
//! The executables are the ones customs read from the image's layers
//! (`files.executables`), each with the target of the links among them:
//! Falco's `proc.exepath` names the program the kernel ran, a link's target.
//!
//! Falco cannot tell a container's platform: a container started by a
//! multi-platform tag is known by the index digest (and every platform by
//! the repository), so a rule that matches what several platforms share
//! lists the executables of them all.

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
                // Every platform of an index, unless --platform chooses one.
                let all = crate::inputs::load(
                    std::slice::from_ref(input),
                    None,
                    args.platform.as_ref(),
                    &crate::trust::TrustArgs::default(),
                    None,
                )?;
                for facts in all {
                    if args.platform.is_some() && facts.image.index_digest.is_some() {
                        eprintln!(
                            "warning: {}: one platform of a multi-platform index; containers started by the index digest are not matched{}: export without --platform for rules that cover them",
                            input.display(),
                            match args.match_by {
                                Match::Digest => "",
                                Match::Repository => {
                                    ", and those of its other platforms will alert on what only they hold"
                                }
                            }
                        );
                    }
                    images.push((input.display().to_string(), facts));
                }
            }
            print!(
                "{}",
                falco_rules(
                    &images,
                    args.match_by,
                    &args.priority,
                    args.platform.is_none()
                )?
            );
            Ok(crate::EXIT_ALLOWED)
        }
    }
}

/// What one rule matches (a digest or a repository) and may run.
struct Target {
    field: &'static str,
    value: String,
    name: String,
    /// The manifests it stands for, beyond the first (an index's platforms).
    platforms: usize,
    programs: BTreeSet<String>,
}

/// The rules file for these images (named by the input they came from).
/// With `whole_indexes`, every platform of an index was read, so a rule
/// for the index digest can list what they all hold.
fn falco_rules(
    images: &[(String, Facts)],
    match_by: Match,
    priority: &str,
    whole_indexes: bool,
) -> Result<String> {
    let mut targets: Vec<Target> = Vec::new();
    for (input, facts) in images {
        let Some(files) = &facts.files else {
            bail!(
                "{input}: the facts hold no files: give the image itself (oci-layout:, docker-archive:) or facts `customs facts` read from it"
            );
        };
        let mut programs: BTreeSet<String> = BTreeSet::new();
        for executable in &files.executables {
            for path in std::iter::once(&executable.path).chain(&executable.link_target) {
                // Falco pastes list items into the condition as text: a path
                // it could misread is left out, so running it alerts.
                if path
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !"\\\"(),=".contains(c))
                {
                    programs.insert(path.clone());
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
        let mut matched = Vec::new();
        match match_by {
            Match::Digest => {
                let Some(digest) = &facts.image.digest else {
                    bail!(
                        "{input}: the image's manifest digest is unknown (a docker archive without an OCI index?): use --match repository"
                    );
                };
                matched.push(("container.image.digest", digest.clone()));
                // A container started by a multi-platform tag is known to
                // the runtime by the index digest.
                if let Some(index) = &facts.image.index_digest
                    && index != digest
                    && whole_indexes
                {
                    matched.push(("container.image.digest", index.clone()));
                }
            }
            Match::Repository => match repository(facts) {
                Some(repository) => matched.push(("container.image.repository", repository)),
                None => bail!(
                    "{input}: the image names no repository (a layout without a full reference?): use --match digest"
                ),
            },
        }
        for (field, value) in matched {
            match targets
                .iter_mut()
                .find(|t| t.field == field && t.value == value)
            {
                Some(target) => {
                    target.platforms += 1;
                    target.programs.extend(programs.iter().cloned());
                }
                None => targets.push(Target {
                    field,
                    value,
                    name: name.clone(),
                    platforms: 0,
                    programs: programs.clone(),
                }),
            }
        }
    }
    let mut out = format!(
        "# Falco rules written by customs {} (customs export falco): for each image,\n\
         # the executables customs read from its layers, and a rule that alerts when a\n\
         # container of that image starts any other program (runtime drift).\n",
        env!("CARGO_PKG_VERSION")
    );
    for target in &targets {
        let Target {
            field,
            value,
            name,
            platforms,
            programs,
        } = target;
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
        let whose = if *platforms > 0 {
            format!(" (of its {} platforms together)", platforms + 1)
        } else {
            String::new()
        };
        writeln!(
            out,
            "  desc: {}",
            yaml(&format!(
                "A container of {name} started a program that is not one of the {} executables customs read from the image{whose} ({field} = {value})",
                programs.len()
            ))
        )?;
        let condition = format!(
            "evt.type in (execve, execveat) and evt.dir = < and container.id != host and {field} = {} and not proc.exepath in ({list})",
            falco_string(value)
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
