// The remote engine's batched memory access (src/remote/memory.ts): many
// ranges in one process_vm_readv/writev, and a range that call cannot do
// (unmapped here) done alone through /proc/PID/mem, as a single read is:
// undefined for tryReadMany, an error for readMany, every other range right.
// Run on this process's own memory (its own /proc/self/mem and
// process_vm_readv need no tracer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import koffi from 'koffi';
import { ProcessMemory } from '../src/remote/memory.js';

const addr = (b: Buffer): bigint => BigInt(koffi.address(b));
const UNMAPPED = 0x1000n; // below vm.mmap_min_addr: never mapped

test('tryReadMany reads every range, and a range that cannot be read is undefined while the ones after it are still read', () => {
  const a = Buffer.from('first range');
  const b = Buffer.from('second, after the hole');
  const mem = new ProcessMemory(process.pid);
  try {
    const got = mem.tryReadMany([
      { addr: addr(a), len: a.length },
      { addr: UNMAPPED, len: 8 },
      { addr: addr(b), len: b.length },
      { addr: addr(a), len: 0 },
    ]);
    assert.equal(got[0]?.toString(), 'first range');
    assert.equal(got[1], undefined);
    assert.equal(got[2]?.toString(), 'second, after the hole');
    assert.equal(got[3]?.length, 0);
    assert.throws(() => mem.readMany([{ addr: addr(a), len: 4 }, { addr: UNMAPPED, len: 8 }]), /EIO|short read/);
  } finally {
    mem.close();
  }
});

test('writeMany writes every range in order (a later one wins where they overlap), and fails on one it cannot write', () => {
  const a = Buffer.alloc(8, 0x2e);
  const b = Buffer.alloc(4, 0x2e);
  const mem = new ProcessMemory(process.pid);
  try {
    mem.writeMany([
      { addr: addr(a), data: Buffer.from('AAAAAAAA') },
      { addr: addr(b), data: Buffer.from('BBBB') },
      { addr: addr(a) + 4n, data: Buffer.from('CC') },
    ]);
    assert.equal(a.toString(), 'AAAACCAA');
    assert.equal(b.toString(), 'BBBB');
    assert.throws(() => mem.writeMany([{ addr: addr(b), data: Buffer.from('DDDD') }, { addr: UNMAPPED, data: Buffer.from('x') }]));
    assert.equal(b.toString(), 'DDDD'); // the range before the hole was written
  } finally {
    mem.close();
  }
});
