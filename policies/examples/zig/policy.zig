//! The example policy of the language guides, in Zig: the image runs as a
//! non-root user, has no critical vulnerability with a fix available, and no
//! embedded secrets. It decides as the Rust version does
//! (policies/examples/rust); tests/tests/languages.rs checks that.

const customs = @import("customs");
const c = customs.c;
const str = customs.str;

comptime {
    customs.exportPolicy(@This());
}

pub const name = "example";
pub const version = "0.1.0";
pub const description = "Non-root user, no fixable critical vulnerabilities, no secrets.";

pub fn declare(info: *customs.Info) void {
    info.rule("no-root-user", "the image runs as a non-root user");
    info.rule("vulnerabilities", "no critical vulnerability with a fix available");
    info.rule("no-secrets", "the secret scan found nothing");
}

pub fn evaluate(image: customs.Image, params: customs.Params, findings: *customs.Findings) !void {
    _ = params;

    var user: c.customs_policy_facts_user_t = undefined;
    if (!c.customs_policy_facts_method_image_user(image, &user)) {
        findings.warn("no-root-user", .medium, null, "the image config is unknown", .{});
    } else {
        defer c.customs_policy_facts_user_free(&user);
        if (user.is_root) findings.deny("no-root-user", .high, null, "the image runs as root", .{});
    }

    var query = c.customs_policy_facts_vulnerability_query_t{
        .min_severity = @intFromEnum(customs.Severity.critical),
        .fixable_only = true,
        .include_suppressed = false,
    };
    var vulnerabilities: c.customs_policy_facts_list_vulnerability_t = undefined;
    if (!c.customs_policy_facts_method_image_vulnerabilities(image, &query, &vulnerabilities)) {
        findings.warn("vulnerabilities", .medium, null, "no vulnerability scan is in the facts", .{});
    } else {
        defer c.customs_policy_facts_list_vulnerability_free(&vulnerabilities);
        for (vulnerabilities.ptr[0..vulnerabilities.len]) |v| {
            findings.deny("vulnerabilities", .critical, str(v.id), "{s} in {s} {s}", .{
                str(v.id), str(v.package_name), str(v.package_version),
            });
        }
    }

    var secrets: c.customs_policy_facts_list_secret_t = undefined;
    if (!c.customs_policy_facts_method_image_secrets(image, &secrets)) {
        findings.warn("no-secrets", .medium, null, "no secret scan is in the facts", .{});
    } else {
        defer c.customs_policy_facts_list_secret_free(&secrets);
        for (secrets.ptr[0..secrets.len]) |s| {
            const path = if (s.path.is_some) str(s.path.val) else "?";
            const severity: customs.Severity = @enumFromInt(s.severity);
            findings.deny("no-secrets", severity, null, "secret {s} in {s}", .{ str(s.rule_id), path });
        }
    }
}
