/*
 * fuzz_replay.c - runs inputs through the fuzz target without libFuzzer:
 * the seed corpus and every regression input (tests/fuzz_regressions/), in
 * CI, under ASan + UBSan. A violated invariant aborts (the fuzz target
 * prints which, and this prints which file was running).
 *
 *   fuzz_replay PATH...    each PATH a file or a directory of files
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each input runs in a child process, so one violated invariant (an abort)
 * does not hide the inputs after it; the parent reports every failure. */
static int g_failed;

static int replay_one(const char *path);

static int replay_file(const char *path) {
  pid_t pid;
  int status = 0;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0)
    return replay_one(path); /* no fork: run in place */
  if (pid == 0)
    _exit(replay_one(path) == 0 ? 0 : 3);
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "fuzz_replay: FAILED: %s (%s %d)\n", path,
            WIFSIGNALED(status) ? "signal" : "exit status",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    ++g_failed;
  }
  return 0;
}

static int replay_one(const char *path) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf;
  long n;
  if (f == NULL) {
    fprintf(stderr, "fuzz_replay: cannot open %s\n", path);
    return -1;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fprintf(stderr, "fuzz_replay: cannot size %s\n", path);
    fclose(f);
    return -1;
  }
  buf = (uint8_t *)malloc((size_t)n + 1);
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "fuzz_replay: cannot read %s\n", path);
    free(buf);
    fclose(f);
    return -1;
  }
  fclose(f);
  fprintf(stderr, "fuzz_replay: %s (%ld bytes)\n", path, n);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Files of a directory, in name order (dot files and *.md skipped). */
static int replay_dir(const char *dir, int *count) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0, i;
  int rc = 0;
  if (d == NULL) {
    fprintf(stderr, "fuzz_replay: cannot open directory %s\n", dir);
    return -1;
  }
  while ((e = readdir(d)) != NULL) {
    const size_t len = strlen(e->d_name);
    if (e->d_name[0] == '.' || (len > 3 && strcmp(e->d_name + len - 3, ".md") == 0))
      continue; /* dot files and notes (README.md) are not inputs */
    if (n == cap) {
      char **grown = (char **)realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
      if (grown == NULL) {
        rc = -1;
        break;
      }
      names = grown;
    }
    names[n] = (char *)malloc(strlen(dir) + strlen(e->d_name) + 2);
    if (names[n] == NULL) {
      rc = -1;
      break;
    }
    sprintf(names[n], "%s/%s", dir, e->d_name);
    ++n;
  }
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  for (i = 0; i < n; ++i) {
    struct stat st;
    if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      if (replay_file(names[i]) != 0)
        rc = -1;
      else
        ++*count;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int i, count = 0, rc = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: fuzz_replay PATH...\n");
    return 2;
  }
  for (i = 1; i < argc; ++i) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "fuzz_replay: %s does not exist\n", argv[i]);
      rc = 1;
    } else if (S_ISDIR(st.st_mode)) {
      if (replay_dir(argv[i], &count) != 0)
        rc = 1;
    } else if (replay_file(argv[i]) == 0) {
      ++count;
    } else {
      rc = 1;
    }
  }
  if (g_failed)
    printf("fuzz_replay: %d input(s) replayed, %d FAILED (see above: each is an input that violates an invariant)\n",
           count, g_failed);
  else
    printf("fuzz_replay: %d input(s) replayed, every invariant held%s\n", count,
           rc ? " (but some paths failed to load)" : "");
  return rc || g_failed;
}
