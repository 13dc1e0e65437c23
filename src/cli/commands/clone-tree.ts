// `forkall clone -p PID --tree`: the process and all its descendants, each
// with every thread, as a clone tree of the same shape (docs/tree.md).
import { cloneTreeInEngineProcess } from '../../remote/engine-client.js';
import { RemoteError } from '../../remote/errors.js';
import { makeTable, counted } from '../table.js';

export interface TreeOpts {
  count: number;
  stopped?: boolean;
  exactTids?: boolean;
  sharedFds?: boolean;
  wait?: boolean;
  json?: boolean;
}

const status = (s: number) => ((s & 0x7f) === 0 ? `zombie (exit ${(s >> 8) & 0xff})` : `zombie (signal ${s & 0x7f})`);

export async function cloneTreeCommand(pid: number, o: TreeOpts): Promise<void> {
  if (o.count !== 1) throw new RemoteError(`--tree makes one clone of the tree of ${pid}: --count must be 1 (got ${o.count})`, 'unsupported');
  if (o.wait) throw new RemoteError(`--tree and --wait cannot be used together: the clones' statuses go to their parents in the clone tree`, 'unsupported');
  const r = await cloneTreeInEngineProcess({ pid, options: { count: 1, stopped: o.stopped, exactTids: o.exactTids, privateFds: !o.sharedFds } });
  if (o.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  for (const w of r.warnings) process.stderr.write(`forkall: warning: ${w}\n`);
  const t = makeTable(['pid', 'clone pid', 'parent', 'clone parent', 'pgid', 'sid', 'threads', 'state']);
  for (const m of r.members)
    t.push([m.pid, m.clonePid, m.parent, m.cloneParent, m.pgid, m.sid, m.threads, m.zombieStatus !== undefined ? status(m.zombieStatus) : o.stopped ? 'stopped' : 'running']);
  process.stdout.write(
    `${t.toString()}\nclone of the tree of ${pid}: ${counted(r.processes, 'process', 'processes')}, ${counted(r.threads, 'thread')}; ` +
      `originals held ${(r.heldUs / 1000).toFixed(2)} ms, total ${(r.totalUs / 1000).toFixed(2)} ms\n`,
  );
}
