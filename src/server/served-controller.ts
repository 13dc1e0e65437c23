// Whether a process is the `forkall run --serve` that serves a template. That
// node process is the template's parent; cloning it copies forkall, not the
// program, so `forkall clone -p` refuses it and names the template instead.
import { readdirSync, readFileSync } from 'node:fs';
import { statFields } from '../proc/tasks.js';
import { serveDir } from './serve-path.js';

/** The PID of a template (served by this user) whose parent is `pid`, or undefined. */
export function templateServedBy(pid: number): number | undefined {
  let names: string[];
  try {
    names = readdirSync(serveDir());
  } catch {
    return undefined; // nothing served by this user
  }
  for (const name of names) {
    const m = /^(\d+)\.sock$/.exec(name);
    if (!m) continue;
    try {
      if (Number(statFields(readFileSync(`/proc/${m[1]}/stat`, 'latin1'))[1]) === pid) return Number(m[1]);
    } catch {
      // a socket left by a template that has ended
    }
  }
  return undefined;
}
