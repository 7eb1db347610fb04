/* Evaluates one tool output with the embedded baseline through the C ABI,
 * as a C program embedding customs would: prints the decision JSON and
 * exits with customs_evaluate's code (0 allow, 1 deny, 2 error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "customs.h"

static int fail(const char *what, char *error) {
    fprintf(stderr, "%s: %s\n", what, error ? error : "(no message)");
    customs_string_free(error);
    return CUSTOMS_ERROR;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s REPORT.json\n", argv[0]);
        return CUSTOMS_ERROR;
    }
    FILE *file = fopen(argv[1], "rb");
    if (!file) {
        perror(argv[1]);
        return CUSTOMS_ERROR;
    }
    static unsigned char report[8 << 20];
    size_t len = fread(report, 1, sizeof report, file);
    fclose(file);

    char *error = NULL;
    customs_engine *engine = customs_engine_new("{\"pool_size\": 0}", &error);
    if (!engine) return fail("customs_engine_new", error);
    customs_bundle *bundle = customs_bundle_baseline(engine, &error);
    if (!bundle) return fail("customs_bundle_baseline", error);

    customs_input input = {.name = argv[1], .data = report, .len = len, .format = NULL};
    char *facts = NULL;
    if (customs_facts_from_inputs(&input, 1, &facts, &error) != CUSTOMS_OK)
        return fail("customs_facts_from_inputs", error);

    char *decision = NULL;
    int code = customs_evaluate(engine, bundle, (const uint8_t *)facts, strlen(facts),
                                "{\"now\": 1790000000}", &decision, &error);
    customs_string_free(facts);
    if (code == CUSTOMS_ERROR) return fail("customs_evaluate", error);
    printf("%s\n", decision);
    customs_string_free(decision);
    customs_bundle_free(bundle);
    customs_engine_free(engine);
    return code;
}
