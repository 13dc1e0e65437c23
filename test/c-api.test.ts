// The C library as a C programmer uses it: #include <forkall.h>, link with
// -lforkall through pkg-config's forkall.pc, call forkall().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir, packageRoot } from '../src/native/paths.js';
import { runScenario, scenarioExists } from './helpers/run-scenario.js';
import { assertFaithfulClone } from './helpers/fidelity.js';

const program = `
#include <forkall.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/wait.h>
static volatile int stop;
static void *idle(void *a) { while (!stop) usleep(1000); return a; }
static int tasks(void) { int n = 0; DIR *d = opendir("/proc/self/task"); struct dirent *e;
  while ((e = readdir(d))) n += e->d_name[0] != '.'; closedir(d); return n; }
int main(void) {
  pthread_t t[3];
  for (int i = 0; i < 3; i++) pthread_create(&t[i], 0, idle, 0);
  pid_t pid = forkall();
  if (pid < 0) { fprintf(stderr, "%s\\n", forkall_strerror()); return 1; }
  if (pid == 0) _exit(tasks() == 4 ? 0 : 1);
  int st; waitpid(pid, &st, 0);
  stop = 1;
  for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
  printf("child status %d\\n", WEXITSTATUS(st));
  return WEXITSTATUS(st);
}
`;

const havePkgConfig = spawnSync('sh', ['-c', 'command -v pkg-config'], { encoding: 'utf8' }).status === 0;

test('a C program built with pkg-config forkall gets a child with every thread', { skip: havePkgConfig ? false : 'pkg-config is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-capi-'));
  writeFileSync(join(dir, 'main.c'), program);
  const env = { ...process.env, PKG_CONFIG_PATH: buildDir('glibc') };
  const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'forkall'], { env, encoding: 'utf8' });
  assert.equal(flags.status, 0, flags.stderr);
  const cc = spawnSync('sh', ['-c', `gcc -pthread -o main main.c ${flags.stdout.trim()}`], { cwd: dir, encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const run = spawnSync(join(dir, 'main'), { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /child status 0/);
});

// forkall_options grows like clone3's arguments: a caller compiled against an
// older (smaller) or newer (larger) forkall.h gets the kernel's rule.
const sizes = `
#include <forkall.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
static volatile int stop;
static void *idle(void *a) { while (!stop) usleep(1000); return a; }
static union { struct forkall_options o; unsigned char bytes[8192]; } buf;
/* forkall_ex with .size = size; tail = the value of the first byte past this header's struct */
static void attempt(const char *label, unsigned size, unsigned char tail) {
  memset(&buf, 0, sizeof buf);
  buf.o.size = size;
  buf.o.park_timeout_ms = 5000;
  buf.bytes[sizeof(struct forkall_options)] = tail;
  pid_t pid = forkall_ex(&buf.o);
  if (pid == 0) _exit(7);
  if (pid < 0) { printf("%s errno=%d %s\\n", label, errno, forkall_strerror()); return; }
  int st; waitpid(pid, &st, 0);
  printf("%s ok=%d\\n", label, WIFEXITED(st) && WEXITSTATUS(st) == 7);
}
int main(void) {
  pthread_t t; pthread_create(&t, 0, idle, 0);
  attempt("zero", 0, 0);
  attempt("ver0", FORKALL_OPTIONS_SIZE_VER0, 0);
  attempt("current", sizeof(struct forkall_options), 0);
  attempt("newer-zero-tail", sizeof(struct forkall_options) + 16, 0);
  attempt("newer-set-tail", sizeof(struct forkall_options) + 16, 1);
  attempt("too-small", 8, 0);
  attempt("too-large", FORKALL_OPTIONS_SIZE_MAX + 8, 0);
  stop = 1; pthread_join(t, 0);
  return 0;
}
`;

test('forkall_ex takes older and newer forkall_options sizes by the kernel extensible-struct rule', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-capi-sizes-'));
  writeFileSync(join(dir, 'sizes.c'), sizes);
  const lib = buildDir('glibc');
  const inc = join(lib, '..', '..', 'include');
  const cc = spawnSync('gcc', ['-pthread', '-I', inc, '-o', 'sizes', 'sizes.c', `-L${lib}`, `-Wl,-rpath,${lib}`, '-lforkall'], { cwd: dir, encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const run = spawnSync(join(dir, 'sizes'), { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  const line = (label: string) => run.stdout.split('\n').find((l) => l.startsWith(`${label} `)) ?? `${label} (no line)`;
  for (const ok of ['zero', 'ver0', 'current', 'newer-zero-tail']) assert.equal(line(ok), `${ok} ok=1`, run.stdout);
  assert.match(line('newer-set-tail'), /^newer-set-tail errno=7 .*byte \d+ is not zero/, run.stdout); // E2BIG
  assert.match(line('too-small'), /^too-small errno=22 .*smaller than the first version/, run.stdout); // EINVAL
  assert.match(line('too-large'), /^too-large errno=7 .*larger than 4096/, run.stdout); // E2BIG
});

test('libforkall.so has the versioned soname libforkall.so.0; make install puts the file and both links in place', { timeout: 120_000 }, (t) => {
  const version = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version as string;
  const major = version.split('.')[0];
  const lib = buildDir('glibc');
  assert.equal(readlinkSync(join(lib, 'libforkall.so')), `libforkall.so.${major}`);
  assert.equal(readlinkSync(join(lib, `libforkall.so.${major}`)), `libforkall.so.${version}`);
  const dyn = spawnSync('readelf', ['-d', join(lib, `libforkall.so.${version}`)], { encoding: 'utf8' });
  if (dyn.error) return t.skip('readelf (binutils) not found: cannot read the soname');
  assert.match(dyn.stdout, new RegExp(`SONAME\\)\\s+Library soname: \\[libforkall\\.so\\.${major}\\]`));
  assert.match(readFileSync(join(lib, 'forkall.pc'), 'utf8'), new RegExp(`^Version: ${version.replace(/\./g, '\\.')}$`, 'm'));

  const dest = mkdtempSync(join(tmpdir(), 'forkall-install-'));
  try {
    const r = spawnSync('make', ['-C', join(packageRoot, 'native'), '--no-print-directory', 'install', `DESTDIR=${dest}`, 'PREFIX=/usr/local'], { encoding: 'utf8', timeout: 100_000 });
    assert.equal(r.status, 0, r.stderr);
    const libdir = join(dest, 'usr', 'local', 'lib');
    assert.equal(readlinkSync(join(libdir, 'libforkall.so')), `libforkall.so.${major}`);
    assert.equal(readlinkSync(join(libdir, `libforkall.so.${major}`)), `libforkall.so.${version}`);
    assert.ok(statSync(join(libdir, `libforkall.so.${version}`)).isFile());
    assert.match(readFileSync(join(libdir, 'pkgconfig', 'forkall.pc'), 'utf8'), new RegExp(`^Version: ${version.replace(/\./g, '\\.')}$`, 'm'));
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
});

// In-process engine scenarios about the trust promises (issue 8): run here, with
// the in-process engine only (they call nothing engine-specific, but what they
// probe - signal queue limits, threads without a libc descriptor - is the
// in-process engine's parking).
const trustScenarios: Array<{ name: string; what: string }> = [
  { name: 'sigpending_limit', what: 'RLIMIT_SIGPENDING=8 with 40 threads (20 spinning): the clone has all 41' },
  { name: 'raw_clone_threads', what: 'bare clone() threads with fs_base 0, inaccessible or shared: no crash, a faithful clone' },
  {
    name: 'unrestorable_state',
    what: 'a thread whose gs_base the child cannot restore: forkall fails (EPERM, names thread and call), child reaped; then a faithful clone',
  },
];
for (const s of trustScenarios) {
  for (const flavour of ['glibc', 'musl'] as const) {
    const skip = scenarioExists(s.name, flavour) ? false : `no ${flavour} build of ${s.name} (musl-gcc not installed?)`;
    test(`${s.name} [${flavour}]: ${s.what}`, { skip, timeout: 150_000 }, async (t) => {
      const r = await runScenario(s.name, { flavour, timeoutMs: 120_000 });
      if (r.code === 77) {
        t.skip(r.stderr.trim()); // the scenario cannot run here (it printed why)
        return;
      }
      assertFaithfulClone(s.name, r);
    });
  }
}
