/* Counts heap allocations of a process linked with jemalloc, from jemalloc's own statistics: loaded
 * with LD_PRELOAD (and MALLOC_CONF=tcache:false, so every allocation reaches an arena's counters),
 * it writes the running total of allocations to $ALLOCCOUNT_OUT each time a line is written to the
 * FIFO $ALLOCCOUNT_CTL: the protocol of bench/insncount.c, so bench/instructions.py reads either. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*mallctl_t)(const char *, void *, size_t *, void *, size_t);
static mallctl_t mallctl_fn;
static const char *ctl_path, *out_path;

static uint64_t read_stat(const char *name) {
  uint64_t value = 0;
  size_t size = sizeof value;
  if (mallctl_fn(name, &value, &size, NULL, 0) != 0) return 0;
  return value;
}

static uint64_t allocations(void) {
  uint64_t epoch = 1;
  mallctl_fn("epoch", NULL, NULL, &epoch, sizeof epoch);
  /* 4096: MALLCTL_ARENAS_ALL, every arena merged. */
  return read_stat("stats.arenas.4096.small.nmalloc") + read_stat("stats.arenas.4096.large.nmalloc");
}

static void *control(void *arg) {
  char line[64];
  for (;;) {
    FILE *ctl = fopen(ctl_path, "r");
    if (!ctl) return NULL;
    while (fgets(line, sizeof line, ctl)) {
      uint64_t total = allocations();
      FILE *out = fopen(out_path, "w");
      if (out) { fprintf(out, "%llu\n", (unsigned long long)total); fclose(out); }
    }
    fclose(ctl);
  }
}

__attribute__((constructor)) static void start(void) {
  ctl_path = getenv("ALLOCCOUNT_CTL");
  out_path = getenv("ALLOCCOUNT_OUT");
  mallctl_fn = (mallctl_t)dlsym(RTLD_DEFAULT, "mallctl");
  if (!ctl_path || !out_path || !mallctl_fn) return;
  pthread_t thread;
  pthread_create(&thread, NULL, control, NULL);
}
