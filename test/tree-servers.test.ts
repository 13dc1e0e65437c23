// `forkall clone --tree` on a real pre-fork server nobody here wrote: nginx,
// a root master whose worker processes drop to an unprivileged user and run
// a pool of threads each. Cloned while a client keeps requesting, the clone
// tree must have the original's shape and identities (workers keep their
// user and thread count) and serve beside the original, and go on serving
// alone after the original master's graceful quit (SIGQUIT).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { statFields } from '../src/proc/tasks.js';
import type { TreeCloneResult } from '../src/remote/tree/clone-tree.js';
import { httpGet } from './helpers/servers.js';
import { killAndWait } from './helpers/kill-wait.js';
import { runForkall } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';
import { nginxSkip, startNginx } from './helpers/nginx.js';

const skip = nginxSkip();

const status = (pid: number, key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
const ppid = (pid: number) => Number(statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[1]);
const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).length;
const childrenOf = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
const alive = (pid: number) => {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};



test('nginx (root master, 2 workers as another user with 4 pool threads each): the tree cloned under client load serves beside the original and alone after its graceful quit', { skip, timeout: 300_000 }, async () => {
  const { dir, port, token, master } = await startNginx();
  const started: number[] = [master.pid!];
  let load: Promise<number> | undefined;
  let stopLoad = false;
  try {
    const m = master.pid!;
    const workers = await waitFor('nginx to serve with 2 workers of 5 threads', async () => {
      const w = childrenOf(m);
      if (w.length !== 2 || !w.every((p) => threads(p) === 5)) return undefined;
      return (await httpGet(port).catch(() => '')) === token ? w : undefined;
    }, 60_000, 100);
    started.push(...workers);
    assert.notEqual(status(workers[0]!, 'Uid'), status(m, 'Uid'), 'precondition: the workers run as another user than the master');

    // a client requesting all the time, from before the clone until after it
    let served = 0;
    load = (async () => {
      while (!stopLoad) {
        assert.equal(await httpGet(port), token, 'a request made while the tree was being cloned');
        served++;
      }
      return served;
    })();
    const r = await runForkall(['clone', '-p', String(m), '--tree', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as TreeCloneResult;
    started.push(...report.members.map((x) => x.clonePid));
    await waitFor('requests after the clone', () => served > 20 || undefined, 60_000, 50);
    stopLoad = true;
    const duringClone = await load;
    load = undefined;
    assert.ok(duringClone > 20, `the client was served ${duringClone} times`);

    // the clone tree: same shape, same identities, same threads
    const cloneOf = new Map(report.members.map((x) => [x.pid, x.clonePid]));
    const cm = cloneOf.get(m)!;
    assert.deepEqual(childrenOf(cm).sort(), workers.map((w) => cloneOf.get(w)!).sort(), 'the workers\' clones are children of the master\'s clone');
    for (const w of workers) {
      const c = cloneOf.get(w)!;
      for (const key of ['Uid', 'Gid', 'Groups', 'CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs'])
        assert.equal(status(c, key), status(w, key), `worker ${w} / clone ${c}: ${key}`);
      assert.equal(threads(c), threads(w), `worker ${w} / clone ${c}: threads`);
      assert.equal(ppid(w), m, `the original worker ${w} is still the master's child`);
    }
    assert.equal(status(cm, 'Uid'), status(m, 'Uid'), 'the master\'s clone runs as the master');

    // the original quits gracefully; the clone serves alone
    process.kill(m, 'SIGQUIT');
    await waitFor('the original nginx to quit', () => (![m, ...workers].some(alive) ? true : undefined), 60_000, 50);
    for (let i = 0; i < 30; i++) assert.equal(await httpGet(port), token, `request ${i} after the original quit`);
    for (const c of [cm, ...workers.map((w) => cloneOf.get(w)!)]) assert.ok(alive(c), `clone ${c} still runs`);
  } finally {
    stopLoad = true;
    await load?.catch(() => undefined);
    await killAndWait(...started.reverse());
    rmSync(dir, { recursive: true, force: true });
  }
});
