/* The helper of customs_policy.h. Allocation failures abort: the host turns
 * the trap into a denying finding that names the policy. */
#include "customs_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *checked_realloc(void *ptr, size_t size) {
    void *grown = realloc(ptr, size ? size : 1);
    if (grown == NULL) {
        abort();
    }
    return grown;
}

static void copy_string(policy_string_t *out, const char *text) {
    size_t len = strlen(text);
    out->ptr = checked_realloc(NULL, len);
    memcpy(out->ptr, text, len);
    out->len = len;
}

static void format_string(policy_string_t *out, const char *format, va_list args) {
    va_list again;
    va_copy(again, args);
    int len = vsnprintf(NULL, 0, format, args);
    if (len < 0) {
        len = 0;
    }
    /* +1: vsnprintf writes a NUL the string does not keep. */
    char *text = checked_realloc(NULL, (size_t)len + 1);
    vsnprintf(text, (size_t)len + 1, format, again);
    va_end(again);
    out->ptr = (uint8_t *)text;
    out->len = (size_t)len;
}

/* Room for one more element: capacities are powers of two, so the length
 * alone says when to grow. */
static void *grow(void *ptr, size_t len, size_t element) {
    if (len == 0 || (len & (len - 1)) == 0) {
        size_t capacity = len == 0 ? 4 : len * 2;
        return checked_realloc(ptr, capacity * element);
    }
    return ptr;
}

void customs_info(policy_policy_info_t *info, const char *name, const char *version,
                  const char *description) {
    memset(info, 0, sizeof *info);
    copy_string(&info->name, name);
    copy_string(&info->version, version);
    copy_string(&info->description, description);
}

void customs_rule(policy_policy_info_t *info, const char *id, const char *description) {
    customs_policy_types_list_rule_info_t *rules = &info->rules;
    rules->ptr = grow(rules->ptr, rules->len, sizeof *rules->ptr);
    customs_policy_types_rule_info_t *rule = &rules->ptr[rules->len++];
    copy_string(&rule->id, id);
    copy_string(&rule->description, description);
}

void customs_param(policy_policy_info_t *info, const char *name, const char *description,
                   const char *default_value) {
    customs_policy_types_list_param_info_t *params = &info->params;
    params->ptr = grow(params->ptr, params->len, sizeof *params->ptr);
    customs_policy_types_param_info_t *param = &params->ptr[params->len++];
    copy_string(&param->name, name);
    copy_string(&param->description, description);
    copy_string(&param->default_value, default_value);
}

void customs_begin(policy_list_finding_t *findings) {
    findings->ptr = NULL;
    findings->len = 0;
}

static void add_finding(policy_list_finding_t *findings, const char *rule,
                        customs_policy_types_effect_t effect, customs_severity_t severity,
                        const policy_string_t *subject, const char *format, va_list args) {
    findings->ptr = grow(findings->ptr, findings->len, sizeof *findings->ptr);
    policy_finding_t *finding = &findings->ptr[findings->len++];
    memset(finding, 0, sizeof *finding);
    copy_string(&finding->rule, rule);
    finding->effect = effect;
    finding->severity = severity;
    format_string(&finding->message, format, args);
    if (subject != NULL) {
        finding->subject.is_some = true;
        policy_string_dup_n(&finding->subject.val, (const char *)subject->ptr, subject->len);
    }
}

void customs_deny(policy_list_finding_t *findings, const char *rule, customs_severity_t severity,
                  const policy_string_t *subject, const char *format, ...) {
    va_list args;
    va_start(args, format);
    add_finding(findings, rule, CUSTOMS_POLICY_TYPES_EFFECT_DENY, severity, subject, format, args);
    va_end(args);
}

void customs_warn(policy_list_finding_t *findings, const char *rule, customs_severity_t severity,
                  const policy_string_t *subject, const char *format, ...) {
    va_list args;
    va_start(args, format);
    add_finding(findings, rule, CUSTOMS_POLICY_TYPES_EFFECT_WARN, severity, subject, format, args);
    va_end(args);
}

const policy_string_t *customs_param_value(const policy_list_tuple2_string_string_t *params,
                                           const char *name) {
    size_t name_len = strlen(name);
    for (size_t i = 0; i < params->len; i++) {
        const policy_string_t *key = &params->ptr[i].f0;
        if (key->len == name_len && memcmp(key->ptr, name, name_len) == 0) {
            return &params->ptr[i].f1;
        }
    }
    return NULL;
}

bool customs_fail(policy_string_t *err, const char *format, ...) {
    va_list args;
    va_start(args, format);
    format_string(err, format, args);
    va_end(args);
    return false;
}
