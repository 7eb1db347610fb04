//! `minimal-image`: no shells, package managers or build tools in a runtime image.
//!
//! Each category is a parameter: package names, which are also the names the
//! programs run as. Installed packages are matched by name, and, when customs
//! read the image itself, executables by file name: a shell binary no
//! package lists (static, `COPY --from`) is still a shell. Categories in
//! `deny-categories` deny; the others warn, because most distribution base
//! images ship a shell.

use customs_guest::{Finding, Image, Params, Policy, PolicyInfo, Severity, export_policy};

const RULE: &str = "minimal-image";

const CATEGORIES: [(&str, &str, &str); 3] = [
    (
        "shells",
        "a shell",
        "bash,dash,zsh,ksh,tcsh,fish,busybox,sh",
    ),
    (
        "package-managers",
        "a package manager",
        "apk-tools,apk,apt,apt-get,dpkg,yum,dnf,microdnf,rpm,zypper,python3-pip,py3-pip,pip,pip3,npm",
    ),
    (
        "build-tools",
        "a compiler or build tool",
        "gcc,g++,cc,clang,cpp,ld,make,cmake,build-essential,binutils,golang,go,rustc,cargo,git",
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
        let executables = image.executables();
        let mut packages_known = true;
        let mut findings = Vec::new();
        for (category, what, _) in CATEGORIES {
            let names: Vec<String> = params
                .list(category)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let deny = deny_categories.contains(&category);
            let mut report = |message: String, subject: String| {
                let finding = if deny {
                    Finding::deny(RULE, Severity::Medium, message)
                } else {
                    Finding::warn(RULE, Severity::Low, message)
                };
                findings.push(finding.with_subject(subject));
            };
            let mut packaged = Vec::new();
            match image.find_packages(&names) {
                Some(found) => {
                    for package in found {
                        report(
                            format!(
                                "{} {} is {what} ({category})",
                                package.name, package.version
                            ),
                            package.name.clone(),
                        );
                        packaged.push(package.name);
                    }
                }
                None => packages_known = false,
            }
            // The files a package already accounts for are not said twice.
            for file in executables.iter().flatten() {
                if names.contains(&file.name) && !packaged.contains(&file.name) {
                    report(
                        format!("{} is {what} ({category}), found as a file", file.path),
                        file.path.clone(),
                    );
                }
            }
        }
        if !packages_known && executables.is_none() {
            return Ok(vec![Finding::warn(
                RULE,
                Severity::Low,
                "the installed packages are unknown (no SBOM or package list in the facts)",
            )]);
        }
        Ok(findings)
    }
}

export_policy!(MinimalImage);
