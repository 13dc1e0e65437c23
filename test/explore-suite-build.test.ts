// The SCTBench build's reading of a program's "args:" first line
// (src/explore/suite-build.ts): the CHESS sources end their lines with CRLF,
// and a \r left on the line made the pattern miss, so the work-stealing queues
// ran with one stealer instead of SCTBench's two.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { firstLineArgs } from '../src/explore/suite-build.js';

test('an "args:" first line gives the program its arguments with {NUMTHREADS} = 2, whatever the line ends', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-suite-args-'));
  try {
    const crlf = join(dir, 'crlf.cpp');
    writeFileSync(crlf, '// args: {NUMTHREADS}\r\n#include <assert.h>\r\n');
    assert.deepEqual(firstLineArgs(crlf), ['2']);
    const lf = join(dir, 'lf.c');
    writeFileSync(lf, '//args:-n 32 -f 4 -h {NUMTHREADS} -v\n');
    assert.deepEqual(firstLineArgs(lf), ['-n', '32', '-f', '4', '-h', '2', '-v']);
    const none = join(dir, 'none.c');
    writeFileSync(none, '# 1 "reorder_bad.c"\n');
    assert.deepEqual(firstLineArgs(none), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
