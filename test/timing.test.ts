// forkall_last_timing(): where the last forkall spent its time, phase by phase
// (what `forkall bench --json` reports as `phases`). Only its shape and
// consistency are asserted, never a duration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir } from '../src/native/paths.js';

const program = `
#include <forkall.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
static volatile int stop;
static void *idle(void *a) { while (!stop) usleep(1000); return a; }
int main(void) {
  pthread_t t[3];
  printf("before=[%s]\\n", forkall_last_timing());
  for (int i = 0; i < 3; i++) pthread_create(&t[i], 0, idle, 0);
  pid_t pid = forkall();
  if (pid < 0) { fprintf(stderr, "%s\\n", forkall_strerror()); return 1; }
  if (pid == 0) _exit(0);
  printf("after=%s\\n", forkall_last_timing());
  int st; waitpid(pid, &st, 0);
  stop = 1;
  for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
  return WEXITSTATUS(st);
}
`;

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

for (const libc of ['glibc', 'musl'] as const) {
  const cc = libc === 'glibc' ? 'gcc' : 'musl-gcc';
  test(`forkall_last_timing() [${libc}]: "" before the first forkall, then every phase of it, each within the total`, { skip: have(cc) ? false : `${cc} is not installed`, timeout: 120_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'forkall-timing-'));
    try {
      writeFileSync(join(dir, 'main.c'), program);
      const lib = buildDir(libc);
      const link = libc === 'glibc' ? `-L${lib} -lforkall -Wl,-rpath,${lib}` : `-static ${join(lib, 'libforkall.a')}`;
      const build = spawnSync('sh', ['-c', `${cc} -pthread -I${join(lib, '..', '..', 'include')} -o main main.c ${link}`], { cwd: dir, encoding: 'utf8' });
      assert.equal(build.status, 0, build.stderr);
      const run = spawnSync(join(dir, 'main'), { encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, run.stderr + run.stdout);
      assert.match(run.stdout, /^before=\[\]$/m);
      const t = JSON.parse(/^after=(.*)$/m.exec(run.stdout)![1]!) as Record<string, number>;
      assert.equal(t.threads, 3);
      const parent = ['lockUs', 'signalUs', 'parkUs', 'prepareUs', 'forkUs', 'releaseUs', 'awaitUs'];
      const child = ['childStartUs', 'childSetupUs', 'childCreateUs', 'childRestoreUs', 'childReportUs'];
      for (const k of [...parent, ...child]) assert.ok(t[k]! >= 0, `${k} = ${t[k]} in ${JSON.stringify(t)}`);
      // the parent's phases follow one another and make up the call
      const sum = parent.reduce((a, k) => a + t[k]!, 0);
      assert.ok(sum <= t.totalUs! * 1.01 + 1 && sum >= t.totalUs! * 0.9, `phases ${sum} vs total ${t.totalUs}`);
      // the child starts after the call did and reports before it returns
      assert.ok(t.childStartUs! + t.childSetupUs! + t.childCreateUs! + t.childRestoreUs! <= t.totalUs! * 1.01 + 1, JSON.stringify(t));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
