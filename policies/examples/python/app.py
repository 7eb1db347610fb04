"""The example policy of the language guides, in Python: the image runs as a
non-root user, has no critical vulnerability with a fix available, and no
embedded secrets. It decides as the Rust version does (policies/examples/rust)."""

from customs_policy import Severity, VulnerabilityQuery, deny, policy, warn


@policy(
    name="example",
    version="0.1.0",
    description="Non-root user, no fixable critical vulnerabilities, no secrets.",
    rules={
        "no-root-user": "the image runs as a non-root user",
        "vulnerabilities": "no critical vulnerability with a fix available",
        "no-secrets": "the secret scan found nothing",
    },
)
def example(image, params):
    findings = []

    user = image.user()
    if user is None:
        findings.append(warn("no-root-user", Severity.MEDIUM, "the image config is unknown"))
    elif user.is_root:
        findings.append(deny("no-root-user", Severity.HIGH, "the image runs as root"))

    query = VulnerabilityQuery(
        min_severity=Severity.CRITICAL, fixable_only=True, include_suppressed=False
    )
    found = image.vulnerabilities(query)
    if found is None:
        findings.append(warn("vulnerabilities", Severity.MEDIUM, "no vulnerability scan is in the facts"))
    else:
        for v in found:
            findings.append(
                deny(
                    "vulnerabilities",
                    Severity.CRITICAL,
                    f"{v.id} in {v.package_name} {v.package_version}",
                    subject=v.id,
                )
            )

    secrets = image.secrets()
    if secrets is None:
        findings.append(warn("no-secrets", Severity.MEDIUM, "no secret scan is in the facts"))
    else:
        for s in secrets:
            findings.append(deny("no-secrets", s.severity, f"secret {s.rule_id} in {s.path or '?'}"))

    return findings


# componentize-py exports the class named WitWorld.
WitWorld = example
