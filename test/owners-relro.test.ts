// libc's own rwlocks are found by shape in its writable segment (native/src/owners.c),
// and the child rewrites the writer TID of those held by one of ours. That segment
// begins with RELRO data, read-only once ld.so has relocated libc: a number there
// shaped like a writer TID (libc's .dynamic: DT_RELASZ = 2112 after DT_RELA's
// address) that equals the TID of a thread made every clone of that process die with
// SIGSEGV before it was whole — intermittent (TIDs come round: pid_max is 32768
// here), seen in agent-fidelity signal_state and in explore-served's template. The
// fixture gives a thread such a TID on purpose (in a PID namespace of its own) and
// calls forkall().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir, packageRoot } from '../src/native/paths.js';

test('a thread whose TID equals a look-alike writer TID in libc\'s RELRO: the clone is whole (the scan skips RELRO)', { timeout: 120_000 }, (ctx) => {
  if (process.getuid?.() !== 0) return ctx.skip('needs root (a PID namespace chooses the TID)');
  const dir = mkdtempSync(join(tmpdir(), 'forkall-relro-'));
  try {
    const bin = join(dir, 'relro_tid');
    const cc = spawnSync('gcc', ['-O2', '-pthread', '-I', join(packageRoot, 'native', 'include'), '-I', join(packageRoot, 'native', 'src'), '-o', bin,
      join(packageRoot, 'test', 'fixtures', 'relro_tid.c'), join(buildDir('glibc'), 'libforkall.a'), '-ldl'], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const r = spawnSync(bin, { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 77 || r.status === 78) return ctx.skip(`nothing to test here: ${r.stdout}${r.stderr}`);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /thread TID \d+ .*\nclone status 0x0\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
