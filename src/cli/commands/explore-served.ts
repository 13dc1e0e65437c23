// `forkall explore -p PID`: the exploration (or one replay) runs in the
// `forkall run --serve --explorable` that serves template PID, which owns the
// template and its clones; this command sends the request, shows progress and
// prints the result as `forkall explore` does.
import { randomBytes } from 'node:crypto';
import { exploreServed } from '../../server/serve-client.js';
import type { ExploreRequest } from '../../server/serve-explore.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt, parseSeed } from '../options.js';
import { UsageError } from '../usage-error.js';
import { progressLine, reportExploration, reportReplay } from './explore-report.js';

/** The flags of `forkall explore` (commander's names). */
export interface ExploreFlags {
  pid?: string;
  at?: string;
  runs: string;
  seconds?: string;
  jobs: string;
  timeoutMs: string;
  seed?: string;
  confirm: string;
  replay?: string;
  json?: boolean;
}

export async function exploreServedCommand(command: string[], o: ExploreFlags): Promise<void> {
  const pid = parsePositiveInt('-p', o.pid!);
  if (command.length) throw new UsageError(`-p ${pid} explores a served template: give no program (${command[0]}) as well`);
  if (o.at !== undefined) throw new UsageError(`--at does not go with -p: template ${pid} is already frozen`);
  const timeoutMs = parsePositiveInt('--timeout-ms', o.timeoutMs);
  let req: ExploreRequest;
  if (o.replay !== undefined) {
    if (o.seed !== undefined) throw new UsageError('--seed does not go with --replay: the replayed seed is the one given');
    req = { op: 'explore', replay: true, seed: parseSeed('--replay', o.replay).toString(), timeoutMs };
  } else {
    const seed = o.seed === undefined ? BigInt(randomBytes(4).readUInt32LE() * 1000) : parseSeed('--seed', o.seed);
    req = {
      op: 'explore',
      seed: seed.toString(),
      runs: parsePositiveInt('--runs', o.runs),
      ...(o.seconds === undefined ? {} : { seconds: parsePositiveInt('--seconds', o.seconds) }),
      jobs: parsePositiveInt('--jobs', o.jobs, 64),
      timeoutMs,
      confirm: o.confirm === '0' ? 0 : parsePositiveInt('--confirm', o.confirm, 100),
    };
  }
  // the live progress line is an exploration's (a replay's heartbeat says nothing worth showing)
  const live = Boolean(process.stderr.isTTY) && !o.json && o.replay === undefined;
  try {
    const r = await exploreServed(pid, req, live ? progressLine : () => {});
    if (live) process.stderr.write('\n');
    if (!r.ok) throw new Error(r.error);
    if (r.replay) {
      const out = Buffer.from(r.replay.stdout, 'base64'), err = Buffer.from(r.replay.stderr, 'base64');
      if (!o.json) {
        process.stdout.write(out);
        process.stderr.write(err);
      }
      process.exitCode = reportReplay({ ...r.replay, stdout: out, stderr: err }, BigInt(r.replay.seed), timeoutMs, Boolean(o.json));
    } else process.exitCode = reportExploration(r.report!, Boolean(o.json));
  } catch (e) {
    process.stderr.write(`forkall: ${(e as Error).message}\n`);
    process.exitCode = EXIT.CLONE_FAILED;
  }
}
