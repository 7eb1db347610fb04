/* The example policy of the language guides, in C: the image runs as a
 * non-root user, has no critical vulnerability with a fix available, and no
 * embedded secrets. It decides as the Rust version does
 * (policies/examples/rust); tests/tests/languages.rs checks that. */
#include "customs_policy.h"

#define SEVERITY(level) CUSTOMS_POLICY_TYPES_SEVERITY_##level

void exports_policy_metadata(policy_policy_info_t *info) {
    customs_info(info, "example", "0.1.0",
                 "Non-root user, no fixable critical vulnerabilities, no secrets.");
    customs_rule(info, "no-root-user", "the image runs as a non-root user");
    customs_rule(info, "vulnerabilities", "no critical vulnerability with a fix available");
    customs_rule(info, "no-secrets", "the secret scan found nothing");
}

bool exports_policy_evaluate(policy_borrow_image_t image,
                             policy_list_tuple2_string_string_t *params,
                             policy_list_finding_t *findings, policy_string_t *err) {
    (void)err;
    customs_begin(findings);

    customs_policy_facts_user_t user;
    if (!customs_policy_facts_method_image_user(image, &user)) {
        customs_warn(findings, "no-root-user", SEVERITY(MEDIUM), NULL,
                     "the image config is unknown");
    } else {
        if (user.is_root) {
            customs_deny(findings, "no-root-user", SEVERITY(HIGH), NULL, "the image runs as root");
        }
        customs_policy_facts_user_free(&user);
    }

    customs_policy_facts_vulnerability_query_t query = {
        .min_severity = SEVERITY(CRITICAL),
        .fixable_only = true,
        .include_suppressed = false,
    };
    customs_policy_facts_list_vulnerability_t vulnerabilities;
    if (!customs_policy_facts_method_image_vulnerabilities(image, &query, &vulnerabilities)) {
        customs_warn(findings, "vulnerabilities", SEVERITY(MEDIUM), NULL,
                     "no vulnerability scan is in the facts");
    } else {
        for (size_t i = 0; i < vulnerabilities.len; i++) {
            const customs_policy_facts_vulnerability_t *v = &vulnerabilities.ptr[i];
            customs_deny(findings, "vulnerabilities", SEVERITY(CRITICAL), &v->id, "%.*s in %.*s %.*s",
                         CUSTOMS_STR(v->id), CUSTOMS_STR(v->package_name),
                         CUSTOMS_STR(v->package_version));
        }
        customs_policy_facts_list_vulnerability_free(&vulnerabilities);
    }

    customs_policy_facts_list_secret_t secrets;
    if (!customs_policy_facts_method_image_secrets(image, &secrets)) {
        customs_warn(findings, "no-secrets", SEVERITY(MEDIUM), NULL, "no secret scan is in the facts");
    } else {
        for (size_t i = 0; i < secrets.len; i++) {
            const customs_policy_facts_secret_t *s = &secrets.ptr[i];
            policy_string_t unknown = {(uint8_t *)"?", 1};
            const policy_string_t *path = s->path.is_some ? &s->path.val : &unknown;
            customs_deny(findings, "no-secrets", s->severity, NULL, "secret %.*s in %.*s",
                         CUSTOMS_STR(s->rule_id), CUSTOMS_STR(*path));
        }
        customs_policy_facts_list_secret_free(&secrets);
    }

    policy_list_tuple2_string_string_free(params);
    return true;
}
