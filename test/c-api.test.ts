// The C library as a C programmer uses it: #include <forkall.h>, link with
// -lforkall through pkg-config's forkall.pc, call forkall().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir } from '../src/native/paths.js';
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
