// `forkall clone --tree` on a real pre-fork server nobody here wrote: nginx,
// a root master whose worker processes drop to an unprivileged user and run
// a pool of threads each. Cloned while a client keeps requesting, the clone
// tree must have the original's shape and identities (workers keep their
// user and thread count) and serve beside the original, and go on serving
// alone after the original master's graceful quit (SIGQUIT).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { statFields } from '../src/proc/tasks.js';
import type { TreeCloneResult } from '../src/remote/tree/clone-tree.js';
import { freePort, httpGet } from './helpers/servers.js';
import { have } from './helpers/programs.js';
import { killAndWait } from './helpers/kill-wait.js';
import { runForkall } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';

const skip = !have('nginx') ? 'nginx is not installed (apt-get install nginx-light)' : process.getuid?.() !== 0 ? 'nginx drops its workers to another user only when started as root' : false;

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

function nginxConfig(dir: string, port: number): string {
  return [
    'worker_processes 2;',
    'daemon off;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log;`,
    'events { worker_connections 256; }',
    'thread_pool default threads=4 max_queue=256;', // each worker: its main thread + 4 pool threads
    'http {',
    '  aio threads;', // files are read by the pool threads
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/tmp;`),
    `  server { listen 127.0.0.1:${port}; root ${dir}/html; }`,
    '}',
  ].join('\n');
}


test('nginx (root master, 2 workers as another user with 4 pool threads each): the tree cloned under client load serves beside the original and alone after its graceful quit', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync('/tmp/forkall-nginx-');
  chmodSync(dir, 0o755); // the workers' user reads the page
  mkdirSync(join(dir, 'html'));
  mkdirSync(join(dir, 'tmp'));
  const token = randomUUID();
  writeFileSync(join(dir, 'html', 'index.html'), token);
  chmodSync(join(dir, 'html'), 0o755);
  chmodSync(join(dir, 'html', 'index.html'), 0o644);
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port));
  const master = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
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
