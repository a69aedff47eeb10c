/*
 * glibc malloc/free replaying the benchmark's traces, timing itself with clock_gettime.
 * Built by the suite with `gcc -O2`; it prints one JSON object on stdout.
 *
 *   malloc-replay churn FILE [zero|plain [WARM]]
 *                              after N setup allocations, each op frees the live block in
 *                              slot victim[i] and allocates sizes[i] bytes into that slot
 *   malloc-replay pairs FILE [zero|plain [WARM]]
 *                              after N setup allocations, each op is malloc(sizes[i]) then
 *                              free of that block
 *   With `zero`, every malloc (setup and timed) is followed by memset(p, 0, size): what
 *   hbSysAllocMem promises (new memory reads 0), so the baseline of the API's figures
 *   (`plain`: without). WARM: the first WARM ops run untimed (a multiple of BATCH).
 *   malloc-replay frag FILE HEAP FROM
 *                              the fragmentation trace (see fragmentation.bench.ts) with the
 *                              heap bounded to HEAP bytes: all memory from brk (no mmap),
 *                              RLIMIT_DATA set to what the process uses now plus HEAP; failed
 *                              allocations are skipped; reports the first failure and the
 *                              mean live bytes after each op from op FROM on
 *
 * FILE (little-endian int32): N, M, BATCH, then N setup sizes, M victims, M sizes.
 * For frag, victims[i] < 0 means allocate sizes[i]; >= 0 means free live block
 * victims[i] % live (live blocks kept in an array, removal by swap with the last).
 * Timing: one clock_gettime pair around each batch of BATCH ops; the output is the
 * nanoseconds of each batch ("batchNs") and the timer's own cost ("timerNs").
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int32_t *read_trace(const char *path, int32_t *n, int32_t *m, int32_t *batch) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(2); }
  int32_t h[3];
  if (fread(h, 4, 3, f) != 3) { fprintf(stderr, "short header\n"); exit(2); }
  *n = h[0]; *m = h[1]; *batch = h[2];
  size_t count = (size_t)h[0] + 2 * (size_t)h[1];
  int32_t *data = malloc(count * 4);
  if (!data || fread(data, 4, count, f) != count) { fprintf(stderr, "short trace\n"); exit(2); }
  fclose(f);
  return data;
}

/* memset through a volatile pointer: gcc would otherwise fuse malloc + memset(0) into
 * calloc, which skips the zeroing of fresh mmap'd blocks and so would not do the work. */
static void *(*volatile zero_fill)(void *, int, size_t) = memset;

static inline uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double timer_cost(void) {
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 1000; i++) {
    uint64_t a = now_ns(), b = now_ns();
    if (b - a < best) best = b - a;
  }
  return (double)best;
}

static void print_batches(const uint64_t *ns, int32_t count, double timer) {
  printf("{\"timerNs\":%.1f,\"batchNs\":[", timer);
  for (int32_t i = 0; i < count; i++) printf(i ? ",%llu" : "%llu", (unsigned long long)ns[i]);
  printf("]}\n");
}

static long data_bytes_now(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = 0;
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmData:", 7) == 0) kb = atol(line + 7);
  }
  if (f) fclose(f);
  return kb * 1024;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: malloc-replay churn|pairs FILE [zero|plain [WARM]] | frag FILE HEAP FROM\n"); return 2; }
  int32_t n, m, batch;
  int32_t *t = read_trace(argv[2], &n, &m, &batch);
  int32_t *setup = t, *victims = t + n, *sizes = t + n + m;

  if (strcmp(argv[1], "frag") == 0) {
    long heap = argc > 3 ? atol(argv[3]) : 0;
    int32_t from = argc > 4 ? (int32_t)atol(argv[4]) : 0;
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1);
    void **live = malloc(sizeof(void *) * (size_t)m);
    int32_t *liveSize = malloc(4 * (size_t)m);
    struct rlimit lim = { (rlim_t)(data_bytes_now() + heap), (rlim_t)(data_bytes_now() + heap) };
    setrlimit(RLIMIT_DATA, &lim);
    int32_t count = 0, failed = 0, firstFailure = -1;
    long bytes = 0, bytesAtFirstFailure = 0;
    double sumFrom = 0;
    for (int32_t i = 0; i < m; i++) {
      if (victims[i] < 0) {
        void *p = malloc((size_t)sizes[i]);
        if (!p) {
          /* A failed allocation is skipped, as a program that waits and retries would. */
          if (firstFailure < 0) { firstFailure = i; bytesAtFirstFailure = bytes; }
          failed++;
        } else {
          memset(p, 1, 1); /* touch it, as a user would */
          live[count] = p; liveSize[count] = sizes[i]; count++;
          bytes += sizes[i];
        }
      } else if (count > 0) {
        int32_t k = victims[i] % count;
        free(live[k]);
        bytes -= liveSize[k];
        live[k] = live[count - 1]; liveSize[k] = liveSize[count - 1]; count--;
      }
      if (i >= from) sumFrom += (double)bytes;
    }
    printf("{\"failedAtOp\":%d,\"bytesAtFirstFailure\":%ld,\"failedAllocs\":%d,\"meanBytesFrom\":%.1f}\n",
           firstFailure, bytesAtFirstFailure, failed, m > from ? sumFrom / (m - from) : 0.0);
    return 0;
  }

  int zero = argc > 3 && strcmp(argv[3], "zero") == 0;
  void **slot = malloc(sizeof(void *) * (size_t)(n > 0 ? n : 1));
  for (int32_t i = 0; i < n; i++) {
    slot[i] = malloc((size_t)setup[i]);
    if (zero) zero_fill(slot[i], 0, (size_t)setup[i]);
    else *(char *)slot[i] = 1;
  }
  /* The first WARM ops run untimed, as the JS side's warm-up does, so that both time the
   * same ops on the same state (and glibc's first mmap'd blocks are not counted). */
  int32_t warm = argc > 4 ? (int32_t)atol(argv[4]) : 0;
  if (warm < 0 || warm > m || warm % batch != 0) {
    fprintf(stderr, "WARM must be a multiple of BATCH within the trace\n");
    return 2;
  }
  int32_t warmBatches = warm / batch, batches = m / batch;
  uint64_t *ns = malloc(sizeof(uint64_t) * (size_t)(batches > 0 ? batches : 1));
  int churn = strcmp(argv[1], "churn") == 0;
  /* A volatile sink keeps the compiler from pairing malloc with free away. */
  void *volatile sink;
  for (int32_t b = 0; b < batches; b++) {
    int32_t base = b * batch;
    uint64_t t0 = now_ns();
    if (churn) {
      for (int32_t j = base; j < base + batch; j++) {
        int32_t k = victims[j];
        free(slot[k]);
        slot[k] = malloc((size_t)sizes[j]);
        if (zero) zero_fill(slot[k], 0, (size_t)sizes[j]);
      }
    } else {
      for (int32_t j = base; j < base + batch; j++) {
        void *p = malloc((size_t)sizes[j]);
        /* The block escapes through the volatile sink, so the memset is not elided. */
        if (zero) zero_fill(p, 0, (size_t)sizes[j]);
        sink = p;
        free(sink);
      }
    }
    ns[b] = now_ns() - t0;
  }
  print_batches(ns + warmBatches, batches - warmBatches, timer_cost());
  for (int32_t i = 0; i < n; i++) free(slot[i]);
  return 0;
}
