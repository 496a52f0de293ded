/* Counts guest instructions executed by all threads; writes the running total to OUT each time a
 * line is written to the FIFO CTL. QEMU 7.2 TCG plugin API v1, declared here by hand (Debian ships
 * no qemu-plugin.h). */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t total;
static const char *ctl_path, *out_path;

static void on_exec(unsigned int vcpu, void *n) { __atomic_fetch_add(&total, (uint64_t)(uintptr_t)n, __ATOMIC_RELAXED); }
static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)qemu_plugin_tb_n_insns(tb));
}
static void *control(void *arg) {
  char line[64];
  for (;;) {
    FILE *ctl = fopen(ctl_path, "r");
    if (!ctl) return NULL;
    while (fgets(line, sizeof line, ctl)) {
      FILE *out = fopen(out_path, "w");
      if (out) { fprintf(out, "%llu\n", (unsigned long long)__atomic_load_n(&total, __ATOMIC_RELAXED)); fclose(out); }
    }
    fclose(ctl);
  }
}
__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (!strncmp(argv[i], "ctl=", 4)) ctl_path = argv[i] + 4;
    if (!strncmp(argv[i], "out=", 4)) out_path = argv[i] + 4;
  }
  if (!ctl_path || !out_path) return -1;
  pthread_t thread;
  pthread_create(&thread, NULL, control, NULL);
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
  return 0;
}
