//! Write a customs policy in Zig.
//!
//! The facts queries are the C bindings `customs bindgen c` writes, turned
//! into Zig by `zig translate-c` and imported here as `customs.c`. This
//! module adds what makes them pleasant: findings with Zig formatting,
//! declared rules and parameters, parameter lookup, and the two exports,
//! written for you by `customs.exportPolicy`:
//!
//!     const customs = @import("customs");
//!     comptime { customs.exportPolicy(@This()); }
//!
//!     pub const name = "no-latest";
//!     pub const version = "0.1.0";
//!     pub const description = "Images are pinned.";
//!     pub fn declare(info: *customs.Info) void {
//!         info.rule("no-latest", "the tag is not latest");
//!     }
//!     pub fn evaluate(image: customs.Image, params: customs.Params, findings: *customs.Findings) !void {
//!         ...
//!         findings.deny("no-latest", .high, null, "the image is tagged {s}", .{tag});
//!     }
//!
//! An error returned by `evaluate` fails the policy: the image is denied with
//! the error's name. Everything handed to the host is allocated with the C
//! allocator, which the generated post-return code frees.

const std = @import("std");

/// The translated C bindings: records, enums and the facts queries
/// (`c.customs_policy_facts_method_image_*`).
pub const c = @import("bindings");

/// The image under evaluation; pass it to the `c.customs_policy_facts_method_image_*` queries.
pub const Image = c.policy_borrow_image_t;

pub const Severity = enum(u8) {
    unknown = c.CUSTOMS_POLICY_TYPES_SEVERITY_UNKNOWN,
    negligible = c.CUSTOMS_POLICY_TYPES_SEVERITY_NEGLIGIBLE,
    low = c.CUSTOMS_POLICY_TYPES_SEVERITY_LOW,
    medium = c.CUSTOMS_POLICY_TYPES_SEVERITY_MEDIUM,
    high = c.CUSTOMS_POLICY_TYPES_SEVERITY_HIGH,
    critical = c.CUSTOMS_POLICY_TYPES_SEVERITY_CRITICAL,
};

/// The bytes of a string the host handed over (not NUL-terminated).
pub fn str(s: c.policy_string_t) []const u8 {
    if (s.len == 0) return "";
    return s.ptr[0..s.len];
}

/// A string the host may keep: a malloc'd copy. Out of memory traps, and
/// the host denies with a finding that says so.
fn hostString(bytes: []const u8) c.policy_string_t {
    const ptr: [*]u8 = @ptrCast(std.c.malloc(@max(bytes.len, 1)) orelse @panic("out of memory"));
    @memcpy(ptr[0..bytes.len], bytes);
    return .{ .ptr = ptr, .len = bytes.len };
}

fn hostFormat(comptime format: []const u8, args: anytype) c.policy_string_t {
    const len: usize = @intCast(std.fmt.count(format, args));
    const ptr: [*]u8 = @ptrCast(std.c.malloc(@max(len, 1)) orelse @panic("out of memory"));
    _ = std.fmt.bufPrint(ptr[0..len], format, args) catch unreachable;
    return .{ .ptr = ptr, .len = len };
}

/// Room for one more element of a host list: capacities are powers of two,
/// so the length alone says when to grow.
fn grow(comptime T: type, ptr: ?[*]T, len: usize) [*]T {
    if (ptr != null and len & (len -% 1) != 0) return ptr.?;
    const capacity = if (len == 0) 4 else len * 2;
    const grown = std.c.realloc(@ptrCast(ptr), capacity * @sizeOf(T)) orelse @panic("out of memory");
    return @ptrCast(@alignCast(grown));
}

/// The policy's name, version, rules and parameters.
pub const Info = struct {
    raw: *c.policy_policy_info_t,

    /// Declares a rule; findings may only use declared rule ids.
    pub fn rule(self: *Info, id: []const u8, description: []const u8) void {
        const rules = &self.raw.rules;
        rules.ptr = grow(c.customs_policy_types_rule_info_t, rules.ptr, rules.len);
        rules.ptr[rules.len] = .{ .id = hostString(id), .description = hostString(description) };
        rules.len += 1;
    }

    /// Declares a parameter and its default (the host fills in defaults).
    pub fn param(self: *Info, name: []const u8, description: []const u8, default_value: []const u8) void {
        const params = &self.raw.params;
        params.ptr = grow(c.customs_policy_types_param_info_t, params.ptr, params.len);
        params.ptr[params.len] = .{
            .name = hostString(name),
            .description = hostString(description),
            .default_value = hostString(default_value),
        };
        params.len += 1;
    }
};

/// The parameters, every declared one present (defaults filled in by the host).
pub const Params = struct {
    raw: *const c.policy_list_tuple2_string_string_t,

    /// The value of `name`, or null when the policy did not declare it.
    pub fn get(self: Params, name: []const u8) ?[]const u8 {
        for (0..self.raw.len) |i| {
            const pair = self.raw.ptr[i];
            if (std.mem.eql(u8, str(pair.f0), name)) return str(pair.f1);
        }
        return null;
    }
};

/// The findings the evaluation returns.
pub const Findings = struct {
    raw: *c.policy_list_finding_t,

    /// A finding that denies the image; `message` is Zig-formatted.
    pub fn deny(self: *Findings, rule: []const u8, severity: Severity, subject: ?[]const u8, comptime message: []const u8, args: anytype) void {
        self.add(rule, c.CUSTOMS_POLICY_TYPES_EFFECT_DENY, severity, subject, hostFormat(message, args));
    }

    /// A finding that is reported and never blocks.
    pub fn warn(self: *Findings, rule: []const u8, severity: Severity, subject: ?[]const u8, comptime message: []const u8, args: anytype) void {
        self.add(rule, c.CUSTOMS_POLICY_TYPES_EFFECT_WARN, severity, subject, hostFormat(message, args));
    }

    fn add(self: *Findings, rule: []const u8, effect: u8, severity: Severity, subject: ?[]const u8, message: c.policy_string_t) void {
        const list = self.raw;
        list.ptr = grow(c.policy_finding_t, list.ptr, list.len);
        list.ptr[list.len] = .{
            .rule = hostString(rule),
            .effect = effect,
            .severity = @intFromEnum(severity),
            .message = message,
            .subject = if (subject) |s| .{ .is_some = true, .val = hostString(s) } else .{ .is_some = false, .val = .{ .ptr = null, .len = 0 } },
        };
        list.len += 1;
    }
};

/// Exports `Policy` as the component's `metadata` and `evaluate`. `Policy`
/// declares `name`, `version`, `description`, `fn declare(*Info) void` and
/// `fn evaluate(Image, Params, *Findings) !void`.
pub fn exportPolicy(comptime Policy: type) void {
    const Exports = struct {
        fn metadata(ret: *c.policy_policy_info_t) callconv(.c) void {
            ret.* = std.mem.zeroes(c.policy_policy_info_t);
            ret.name = hostString(Policy.name);
            ret.version = hostString(Policy.version);
            ret.description = hostString(Policy.description);
            var info = Info{ .raw = ret };
            Policy.declare(&info);
        }

        fn evaluate(
            image: c.policy_borrow_image_t,
            params: *c.policy_list_tuple2_string_string_t,
            ret: *c.policy_list_finding_t,
            err: *c.policy_string_t,
        ) callconv(.c) bool {
            defer c.policy_list_tuple2_string_string_free(params);
            ret.* = .{ .ptr = null, .len = 0 };
            var findings = Findings{ .raw = ret };
            Policy.evaluate(image, .{ .raw = params }, &findings) catch |e| {
                c.policy_list_finding_free(ret);
                err.* = hostString(@errorName(e));
                return false;
            };
            return true;
        }
    };
    @export(&Exports.metadata, .{ .name = "exports_policy_metadata" });
    @export(&Exports.evaluate, .{ .name = "exports_policy_evaluate" });
}
