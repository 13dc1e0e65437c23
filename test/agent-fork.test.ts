// The agent's FORKALL_FORK=all on a real program (python3's os.fork with
// worker threads): children keep every thread, and the workers keep working in
// them. Without FORKALL_FORK the preloaded agent changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { nativeArtifact } from '../src/native/paths.js';

const script = `
import os, threading, time, queue
q, done = queue.Queue(), queue.Queue()
def worker():
    while True:
        item = q.get()
        done.put(item * 2)
for _ in range(3):
    threading.Thread(target=worker, daemon=True).start()
time.sleep(0.2)
pid = os.fork()
if pid == 0:
    n = len(os.listdir('/proc/self/task'))
    q.put(21)
    try:
        r = done.get(timeout=5)
    except Exception:
        r = None
    print(f"child threads={n} result={r}", flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print(f"parent threads={len(os.listdir('/proc/self/task'))}", flush=True)
`;

function run(env: Record<string, string>) {
  const r = spawnSync('python3', ['-c', script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, LD_PRELOAD: nativeArtifact('libforkall-agent.so'), ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('python3 os.fork under the agent with FORKALL_FORK=all: the child keeps its 3 workers, and they work', () => {
  const out = run({ FORKALL_FORK: 'all' });
  assert.match(out, /child threads=4 result=42/);
  assert.match(out, /parent threads=4/);
});

test('without FORKALL_FORK the preloaded agent leaves fork() alone: the child has one thread', () => {
  const out = run({});
  assert.match(out, /child threads=1 result=None/);
});
