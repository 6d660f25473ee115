/*
 * QEMU TCG plugin: counts the guest instructions executed, and records the running count each
 * time execution enters the function at address `mark` (the firmware's `picobert_mark`), so the
 * instructions between two marks are a difference of two recorded counts. Deterministic: the
 * count depends on the guest program only, not on the host or on timing.
 *
 * Arguments: mark=<hex address>, out=<file> (written at exit: one `mark <count>` line per mark
 * hit, then `total <count>`).
 *
 * Debian ships no qemu-plugin.h, so the few API entry points used are declared here as QEMU 10
 * exports them (include/qemu/qemu-plugin.h, plugin API version 4).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
#define QEMU_PLUGIN_VERSION 4

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;

enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/* One vCPU (the boards here have one core), so plain globals suffice. */
static uint64_t executed;
static uint64_t mark_addr = UINT64_MAX;
static char *out_path;
static uint64_t *marks;
static size_t n_marks, cap_marks;
static bool out_of_memory;

/* The block's instruction count travels in the callback's user data. */
static void on_tb(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    executed += (uintptr_t)udata;
}

static void on_mark_tb(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (n_marks == cap_marks) {
        size_t cap = cap_marks ? 2 * cap_marks : 256;
        uint64_t *grown = realloc(marks, cap * sizeof *marks);
        if (!grown) {
            out_of_memory = true;
            executed += (uintptr_t)udata;
            return;
        }
        marks = grown;
        cap_marks = cap;
    }
    marks[n_marks++] = executed;
    executed += (uintptr_t)udata;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    uintptr_t n = qemu_plugin_tb_n_insns(tb);
    /* A call jumps to the function's first instruction, so it starts a translation block. */
    bool is_mark = (qemu_plugin_tb_vaddr(tb) & ~(uint64_t)1) == mark_addr;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, is_mark ? on_mark_tb : on_tb, QEMU_PLUGIN_CB_NO_REGS,
                                         (void *)n);
}

static void write_counts(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    FILE *f = fopen(out_path, "w");
    if (!f) {
        fprintf(stderr, "icount: cannot write %s\n", out_path);
        return;
    }
    for (size_t i = 0; i < n_marks; i++) {
        fprintf(f, "mark %" PRIu64 "\n", marks[i]);
    }
    if (out_of_memory) {
        fprintf(f, "error out of memory: marks lost\n");
    }
    fprintf(f, "total %" PRIu64 "\n", executed);
    fclose(f);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "mark=", 5) == 0) {
            char *end;
            mark_addr = strtoull(argv[i] + 5, &end, 16) & ~(uint64_t)1;
            if (*end != '\0') {
                fprintf(stderr, "icount: bad mark address %s\n", argv[i] + 5);
                return -1;
            }
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            out_path = argv[i] + 4;
        } else {
            fprintf(stderr, "icount: unknown argument %s (want mark=HEX, out=FILE)\n", argv[i]);
            return -1;
        }
    }
    if (!out_path) {
        fprintf(stderr, "icount: out=FILE is required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
