//! `minimal-image`: no shells, package managers or build tools in a runtime image.
//!
//! Each category is a parameter (package names). Categories in `deny-categories`
//! deny; the others warn, because most distribution base images ship a shell.

use customs_guest::{Finding, Image, Params, Policy, PolicyInfo, Severity, export_policy};

const RULE: &str = "minimal-image";

const CATEGORIES: [(&str, &str, &str); 3] = [
    ("shells", "a shell", "bash,dash,zsh,ksh,tcsh,fish,busybox"),
    (
        "package-managers",
        "a package manager",
        "apk-tools,apt,dpkg,yum,dnf,microdnf,rpm,zypper,python3-pip,py3-pip,pip,npm",
    ),
    (
        "build-tools",
        "a compiler or build tool",
        "gcc,g++,clang,cpp,make,cmake,build-essential,binutils,golang,rustc,cargo,git",
    ),
];

struct MinimalImage;

impl Policy for MinimalImage {
    fn info() -> PolicyInfo {
        let mut info = PolicyInfo::new(
            RULE,
            "0.1.0",
            "Runtime images carry no shells, package managers, compilers or build tools.",
        )
        .rule(RULE, "no installed package is in a forbidden category");
        for (name, what, default) in CATEGORIES {
            info = info.param(name, default, &format!("packages that count as {what}"));
        }
        info.param(
            "deny-categories",
            "build-tools",
            "categories that deny (the others warn): shells, package-managers, build-tools",
        )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let deny_categories = params.list("deny-categories");
        let mut findings = Vec::new();
        for (category, what, _) in CATEGORIES {
            let names: Vec<String> = params
                .list(category)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let Some(found) = image.find_packages(&names) else {
                return Ok(vec![Finding::warn(
                    RULE,
                    Severity::Low,
                    "the installed packages are unknown (no SBOM or package list in the facts)",
                )]);
            };
            let deny = deny_categories.contains(&category);
            for package in found {
                let message = format!(
                    "{} {} is {what} ({category})",
                    package.name, package.version
                );
                let finding = if deny {
                    Finding::deny(RULE, Severity::Medium, message)
                } else {
                    Finding::warn(RULE, Severity::Low, message)
                };
                findings.push(finding.with_subject(package.name));
            }
        }
        Ok(findings)
    }
}

export_policy!(MinimalImage);
