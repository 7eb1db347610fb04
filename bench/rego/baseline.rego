# The customs baseline written in Rego, for comparing customs with an OPA-style
# engine (regorus) on the same facts and the same rules. It mirrors
# policies/cel/baseline.yaml rule by rule; a test checks it gives the same
# decision and (rule, effect) pairs as the Rust and CEL baselines on every
# corpus image and on facts built to pass, fail and warn each rule.
#
# Input: a facts v1 document. data.now: the evaluation time, Unix seconds.
# Output: data.customs.baseline.findings, a set of {rule, effect, message}.
package customs.baseline

import rego.v1

params := {
	"allowed_bases": [
		"docker.io/library/*", "gcr.io/distroless/*", "cgr.dev/chainguard/*",
		"registry.access.redhat.com/*", "mcr.microsoft.com/*", "public.ecr.aws/docker/library/*",
	],
	"min_severity": "high",
	"fixable_only": true,
	"grace_days": 0,
	"ignore": [],
	"secret_min_severity": "unknown",
	"shells": ["bash", "dash", "zsh", "ksh", "tcsh", "fish", "busybox", "sh"],
	"package_managers": [
		"apk-tools", "apk", "apt", "apt-get", "dpkg", "yum", "dnf", "microdnf", "rpm", "zypper",
		"python3-pip", "py3-pip", "pip", "pip3", "npm",
	],
	"build_tools": [
		"gcc", "g++", "cc", "clang", "cpp", "ld", "make", "cmake", "build-essential", "binutils",
		"golang", "go", "rustc", "cargo", "git",
	],
	"deny_categories": ["build-tools"],
	"accept_reported": false,
	"identity": "*",
	"issuer": "*",
	"predicate_types": ["https://slsa.dev/provenance/v0.2", "https://slsa.dev/provenance/v1"],
	"builder_id": "*",
	"max_age_days": 365,
	"eol_warning_days": 90,
	"misconfig_min_severity": "high",
	"misconfig_ignore": [],
	"misconfig_require_scan": false,
	"pss_level": "restricted",
	"allowed_capabilities": ["NET_BIND_SERVICE"],
	"allowed_selinux_types": ["container_t", "container_init_t", "container_kvm_t", "container_engine_t"],
	"allowed_host_paths": [],
	"allowed_host_ports": [],
	"setuid_allowed": [],
	"setuid_require_files": false,
}

rank := {"unknown": 0, "negligible": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

at_least(severity, minimum) if rank[severity] >= rank[minimum]

day_ns := (86400 * 1000) * 1000000

now_ns := (data.now * 1000) * 1000000

# A missing fact is null, as in the CEL baseline.
fact(name) := object.get(input, name, null)

# The elements of a list fact; none when it is missing.
items(name) := x if {
	x := fact(name)
	x != null
} else := []

or_empty(x) := x if x != null

else := ""

# RFC 3339, or a plain date at midnight UTC.
time_ns(text) := time.parse_ns("2006-01-02", text) if count(text) == 10

else := time.parse_rfc3339_ns(text)

# docker.io/library expansion of short names, as customs normalizes references.
reference_pattern := `^(?:([^/@]*[.:][^/@]*|localhost)/)?([a-z0-9._-]+(?:/[a-z0-9._-]+)*)(?::([A-Za-z0-9._-]{1,128}))?(?:@([^:@]+:[^@]+))?$`

normalize(ref) := out if {
	[parts] := regex.find_all_string_submatch_n(reference_pattern, ref, 1)
	registry := registry_of(parts[1])
	repository := repository_of(registry, parts[2])
	tag := suffix(":", parts[3])
	digest := suffix("@", parts[4])
	out := concat("", [registry, "/", repository, tag, digest])
}

else := ref

registry_of(r) := r if r != ""

else := "docker.io"

repository_of(registry, path) := concat("/", ["library", path]) if {
	registry == "docker.io"
	not contains(path, "/")
}

else := path

suffix(mark, value) := concat("", [mark, value]) if value != ""

else := ""

# trusted-base
base_reference := r if {
	r := input.base.reference
	r != null
} else := r if {
	r := input.image.annotations["org.opencontainers.image.base.name"]
} else := r if {
	r := input.image.labels["org.opencontainers.image.base.name"]
} else := null

allowed_base(name) if {
	some pattern in params.allowed_bases
	glob.match(pattern, null, name)
}

findings contains {"rule": "trusted-base", "effect": "deny", "message": sprintf("base image %s is not in allowed_bases", [name])} if {
	base_reference != null
	name := normalize(base_reference)
	not allowed_base(name)
}

findings contains {"rule": "trusted-base", "effect": "warn", "message": "the base image reference is unknown"} if {
	base_reference == null
}

# no-root-user
non_root_container(c) if c.security_context.run_as_non_root == true

non_root_container(c) if {
	uid := c.security_context.run_as_user
	uid != null
	uid > 0
}

workload_non_root if {
	containers := input.workload.containers
	count(containers) > 0
	every c in containers {
		non_root_container(c)
	}
}

findings contains {"rule": "no-root-user", "effect": "deny", "message": "the image runs as root; add a USER with a non-zero uid"} if {
	not workload_non_root
	fact("user") != null
	input.user.is_root == true
}

findings contains {"rule": "no-root-user", "effect": "warn", "message": "the image config is unknown"} if {
	not workload_non_root
	fact("user") == null
}

# vulnerabilities
fixable(v) if not params.fixable_only

fixable(v) if v.fix_state == "fixed"

fixable(v) if count(object.get(v, "fixed_versions", [])) > 0

ignored(v) if v.id in params.ignore

ignored(v) if {
	some alias in object.get(v, "aliases", [])
	alias in params.ignore
}

in_grace(v) if {
	params.grace_days > 0
	published := object.get(v, "published", null)
	published != null
	time_ns(published) > now_ns - params.grace_days * day_ns
}

counted contains v.id if {
	some v in items("vulnerabilities")
	at_least(v.severity, params.min_severity)
	fixable(v)
	not object.get(v, "vex_status", null) in {"not_affected", "fixed"}
	not ignored(v)
	not in_grace(v)
}

findings contains {"rule": "vulnerabilities", "effect": "deny", "message": sprintf("%d vulnerabilities at or above %s", [count(counted), params.min_severity])} if {
	count(counted) > 0
}

findings contains {"rule": "vulnerabilities", "effect": "warn", "message": "no vulnerability scan is in the facts"} if {
	fact("vulnerabilities") == null
}

# no-secrets
findings contains {"rule": "no-secrets", "effect": "deny", "message": sprintf("secret found: %s", [s.rule_id])} if {
	some s in items("secrets")
	at_least(s.severity, params.secret_min_severity)
}

findings contains {"rule": "no-secrets", "effect": "warn", "message": "no secret scan is in the facts"} if {
	fact("secrets") == null
}

# minimal-image
categories := {"shells": params.shells, "package-managers": params.package_managers, "build-tools": params.build_tools}

deny_names := {name | some c in params.deny_categories; some name in categories[c]}

warn_names := {name | some c, names in categories; not c in params.deny_categories; some name in names}

findings contains {"rule": "minimal-image", "effect": "deny", "message": sprintf("forbidden package: %s", [p.name])} if {
	some p in items("packages")
	p.name in deny_names
}

findings contains {"rule": "minimal-image", "effect": "warn", "message": "the installed packages are unknown"} if {
	fact("packages") == null
	fact("files") == null
}

executables := input.files.executables if fact("files") != null

else := []

findings contains {"rule": "minimal-image", "effect": "deny", "message": sprintf("forbidden file: %s", [e.path])} if {
	some e in executables
	e.name in deny_names
}

findings contains {"rule": "minimal-image", "effect": "warn", "message": sprintf("shell or package manager found: %s", [e.path])} if {
	some e in executables
	e.name in warn_names
}

findings contains {"rule": "minimal-image", "effect": "warn", "message": sprintf("shell or package manager installed: %s", [p.name])} if {
	some p in items("packages")
	p.name in warn_names
}

# signed: only what customs verified itself counts, unless told otherwise
counted(x) if {
	x.verified == true
	x.trust == "verified"
}

counted(x) if {
	x.verified == true
	params.accept_reported == true
}

signature_matches if {
	some s in items("signatures")
	counted(s)
	glob.match(params.identity, null, or_empty(object.get(s, "subject", null)))
	glob.match(params.issuer, null, or_empty(object.get(s, "issuer", null)))
}

findings contains {"rule": "signed", "effect": "deny", "message": "no verified signature from the identity and issuer"} if {
	fact("signatures") != null
	not signature_matches
}

findings contains {"rule": "signed", "effect": "warn", "message": "no signature information is in the facts"} if {
	fact("signatures") == null
}

# provenance
provenance_matches if {
	some a in items("attestations")
	a.predicate_type in params.predicate_types
	counted(a)
	glob.match(params.builder_id, null, or_empty(object.get(a, "builder_id", null)))
}

findings contains {"rule": "provenance", "effect": "deny", "message": "no verified provenance attestation from the builder"} if {
	fact("attestations") != null
	not provenance_matches
}

findings contains {"rule": "provenance", "effect": "warn", "message": "no attestation information is in the facts"} if {
	fact("attestations") == null
}

# freshness
created_ns := time_ns(input.image.created) if input.image.created != null

created_known if created_ns > 0

age_days := floor((now_ns - created_ns) / day_ns) if created_known

os := input.base.os if input.base.os != null

eol_ns := time_ns(os.eol) if object.get(os, "eol", null) != null

findings contains {"rule": "freshness", "effect": "deny", "message": sprintf("the image was built %d days ago", [age_days])} if {
	age_days > params.max_age_days
}

findings contains {"rule": "freshness", "effect": "deny", "message": "the base OS is past its end of life"} if {
	eol_ns <= now_ns
}

findings contains {"rule": "freshness", "effect": "deny", "message": "the base OS is past its end of life"} if {
	os
	not eol_ns
	object.get(os, "eosl", null) == true
}

findings contains {"rule": "freshness", "effect": "warn", "message": "the image creation time is unknown"} if {
	not created_known
}

findings contains {"rule": "freshness", "effect": "warn", "message": "the base OS reaches end of life soon"} if {
	eol_ns > now_ns
	eol_ns - now_ns <= params.eol_warning_days * day_ns
}

# misconfigurations
findings contains {"rule": "misconfigurations", "effect": "deny", "message": sprintf("misconfiguration %s", [m.id])} if {
	some m in items("misconfigurations")
	at_least(m.severity, params.misconfig_min_severity)
	not m.id in params.misconfig_ignore
}

findings contains {"rule": "misconfigurations", "effect": "warn", "message": "no misconfiguration scan is in the facts"} if {
	params.misconfig_require_scan == true
	fact("misconfigurations") == null
}

# runtime-hardening: the Pod Security Standards, on the workload if there is one
restricted if params.pss_level == "restricted"

pss_baseline_capabilities := {
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

capability(name) := trim_prefix(upper(name), "CAP_")

level_capabilities := set() if restricted

else := pss_baseline_capabilities

allowed_capabilities := {capability(c) | some c in params.allowed_capabilities} | level_capabilities

workload := w if {
	w := fact("workload")
	w != null
} else := {}

containers := object.get(workload, "containers", [])

security(c) := object.get(c, "security_context", {})

setting(c, name) := object.get(security(c), name, null)

drops_all(c) if {
	some d in object.get(security(c), "capabilities_drop", [])
	capability(d) == "ALL"
}

seccomp_confined(c) if {
	profile := setting(c, "seccomp_profile")
	profile != null
	split(profile, ":")[0] in {"RuntimeDefault", "Localhost"}
}

seccomp_confined(c) if {
	setting(c, "seccomp_profile") == null
	not restricted
}

apparmor_confined(profile) if profile in {"RuntimeDefault", "Localhost", "runtime/default"}

apparmor_confined(profile) if startswith(profile, "Localhost:")

apparmor_confined(profile) if startswith(profile, "localhost/")

runtime_violation contains sprintf("parameter pss_level=%q is invalid", [params.pss_level]) if {
	not params.pss_level in {"restricted", "baseline"}
}

runtime_violation contains sprintf("spec.%s is true", [field]) if {
	some field, name in {"hostNetwork": "host_network", "hostPID": "host_pid", "hostIPC": "host_ipc"}
	object.get(workload, name, false) == true
}

runtime_violation contains sprintf("a hostPath volume mounts the node's %s", [path]) if {
	some path in object.get(workload, "host_path_volumes", [])
	not path in params.allowed_host_paths
}

runtime_violation contains sprintf("container %q: securityContext.privileged is true", [c.name]) if {
	some c in containers
	setting(c, "privileged") == true
}

runtime_violation contains sprintf("container %q: securityContext.allowPrivilegeEscalation is not false", [c.name]) if {
	restricted
	some c in containers
	setting(c, "allow_privilege_escalation") != false
}

runtime_violation contains sprintf("container %q: securityContext.capabilities.add has %s", [c.name, a]) if {
	some c in containers
	some a in object.get(security(c), "capabilities_add", [])
	not capability(a) in allowed_capabilities
}

runtime_violation contains sprintf("container %q: securityContext.capabilities.drop does not list ALL", [c.name]) if {
	restricted
	some c in containers
	not drops_all(c)
}

runtime_violation contains sprintf("container %q: securityContext.seccompProfile is not RuntimeDefault or Localhost", [c.name]) if {
	some c in containers
	not seccomp_confined(c)
}

runtime_violation contains sprintf("container %q: the AppArmor profile is %s", [c.name, profile]) if {
	some c in containers
	profile := setting(c, "apparmor_profile")
	profile != null
	not apparmor_confined(profile)
}

runtime_violation contains sprintf("container %q: securityContext.seLinuxOptions.type is %s", [c.name, kind]) if {
	some c in containers
	kind := setting(c, "selinux_type")
	kind != null
	not kind in params.allowed_selinux_types
}

runtime_violation contains sprintf("container %q: ports[].hostPort binds node port %d", [c.name, port]) if {
	some c in containers
	some port in object.get(c, "host_ports", [])
	not port in params.allowed_host_ports
}

findings contains {"rule": "runtime-hardening", "effect": "deny", "message": violation} if {
	some violation in runtime_violation
}

# no-setuid: links are judged by their target, once
findings contains {"rule": "no-setuid", "effect": "deny", "message": sprintf("setuid/setgid: %s", [e.path])} if {
	some e in executables
	object.get(e, "link_target", null) == null
	setuid_or_setgid(e)
	not e.path in params.setuid_allowed
}

setuid_or_setgid(e) if e.setuid == true

setuid_or_setgid(e) if e.setgid == true

findings contains {"rule": "no-setuid", "effect": "warn", "message": "the image's files are unknown"} if {
	params.setuid_require_files == true
	fact("files") == null
}

allowed if {
	every f in findings {
		f.effect != "deny"
	}
}
