/* How this machine charges a system call to user and system time.
 *
 * Runs N getppid(2) calls (no work in user space beyond the call itself: a few
 * instructions) and prints, per call, the user and system time getrusage(2) reports
 * and the wall time, as one JSON line. On bare metal the user share is a few
 * nanoseconds; on a VM whose kernel runs outside ring 0 (e.g. PVM), a world switch per
 * call can be charged as user time, which then inflates every process's user time by
 * (system calls x this figure). bench.py uses it to read the user-space columns.
 *
 *   syscall_accounting [N]   (default 2,000,000)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char** argv) {
  const long n = argc > 1 ? atol(argv[1]) : 2000000L;
  if (n <= 0) {
    fprintf(stderr, "usage: syscall_accounting [N > 0]\n");
    return 2;
  }
  struct rusage r0, r1;
  struct timespec t0, t1;
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; ++i) syscall(SYS_getppid); /* glibc caches nothing here */
  clock_gettime(CLOCK_MONOTONIC, &t1);
  getrusage(RUSAGE_SELF, &r1);
  const double user = seconds(r1.ru_utime) - seconds(r0.ru_utime);
  const double sys = seconds(r1.ru_stime) - seconds(r0.ru_stime);
  const double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("{\"calls\": %ld, \"user_ns_per_call\": %.1f, \"sys_ns_per_call\": %.1f, "
         "\"wall_ns_per_call\": %.1f}\n",
         n, user / (double)n * 1e9, sys / (double)n * 1e9, wall / (double)n * 1e9);
  return 0;
}
