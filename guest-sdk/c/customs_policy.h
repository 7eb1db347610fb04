/*
 * Write a customs policy in C.
 *
 * The bindings come from `customs bindgen c build/` (wit-bindgen's C
 * generator on the customs WIT): policy.h declares the facts queries
 * (customs_policy_facts_method_image_*) and the two functions a policy
 * defines. This helper keeps the bookkeeping out of them:
 *
 *     void exports_policy_metadata(policy_policy_info_t *info) {
 *         customs_info(info, "no-latest", "0.1.0", "Images are pinned.");
 *         customs_rule(info, "no-latest", "the tag is not latest");
 *     }
 *
 *     bool exports_policy_evaluate(policy_borrow_image_t image,
 *                                  policy_list_tuple2_string_string_t *params,
 *                                  policy_list_finding_t *findings,
 *                                  policy_string_t *err) {
 *         customs_begin(findings);
 *         ...
 *         customs_deny(findings, "no-latest", CUSTOMS_POLICY_TYPES_SEVERITY_HIGH,
 *                      NULL, "the image is tagged %.*s", CUSTOMS_STR(tag));
 *         policy_list_tuple2_string_string_free(params);
 *         return true;   // or: return customs_fail(err, "bad parameter %s", ...);
 *     }
 *
 * Strings from the host are not NUL-terminated: print them with "%.*s" and
 * CUSTOMS_STR(s). Everything handed back to the host is allocated with
 * malloc; the generated post-return code frees it after the host copied it.
 * Build: see docs/languages/c.md.
 */
#ifndef CUSTOMS_POLICY_H
#define CUSTOMS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

typedef customs_policy_types_severity_t customs_severity_t;

/* The arguments "%.*s" takes for a policy_string_t. */
#define CUSTOMS_STR(s) (int)(s).len, (const char *)(s).ptr

/* Fills in the policy's name, version and description (and empties the
 * rule and parameter lists). Call first in exports_policy_metadata. */
void customs_info(policy_policy_info_t *info, const char *name, const char *version,
                  const char *description);
/* Declares a rule; findings may only use declared rule ids. */
void customs_rule(policy_policy_info_t *info, const char *id, const char *description);
/* Declares a parameter and its default (the host fills in defaults). */
void customs_param(policy_policy_info_t *info, const char *name, const char *description,
                   const char *default_value);

/* Starts an evaluation: empties the findings. Call first in
 * exports_policy_evaluate. The params list is the policy's: free it with
 * policy_list_tuple2_string_string_free when done with it. */
void customs_begin(policy_list_finding_t *findings);

/* Adds a finding that denies the image (customs_deny) or is only reported
 * (customs_warn). subject may be NULL; message is printf-formatted. */
void customs_deny(policy_list_finding_t *findings, const char *rule, customs_severity_t severity,
                  const policy_string_t *subject, const char *format, ...)
    __attribute__((format(printf, 5, 6)));
void customs_warn(policy_list_finding_t *findings, const char *rule, customs_severity_t severity,
                  const policy_string_t *subject, const char *format, ...)
    __attribute__((format(printf, 5, 6)));

/* The value of parameter name, or NULL when the policy did not declare it. */
const policy_string_t *customs_param_value(const policy_list_tuple2_string_string_t *params,
                                           const char *name);

/* The policy cannot decide: sets err and returns false, which
 * exports_policy_evaluate returns. The image is denied with the message. */
bool customs_fail(policy_string_t *err, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#endif
