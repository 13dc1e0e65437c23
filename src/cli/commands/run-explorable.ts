// `forkall run --serve --explorable`: the served template was started with the
// scheduler preloaded and an explore mailbox mapped, so `forkall explore -p
// PID` can run schedules of it. One exploration at a time; while it runs the
// mailbox is armed and every clone of the template is a scheduled one, so
// plain clone requests are refused until it ends (then it is disarmed).
import { exploreSession, replaySession } from '../../explore/explore.js';
import type { Mailbox } from '../../explore/mailbox.js';
import type { OutcomeTable } from '../../explore/outcome.js';
import { progressOf } from './explore-report.js';
import { Session } from '../../explore/session.js';
import type { ExploreProgress, ExploreReply, ExploreRequest } from '../../server/serve-explore.js';
import type { Template } from '../../server/template.js';

export interface Explorable {
  /** an exploration is running: clones now would be scheduled ones */
  readonly busy: boolean;
  explore(req: ExploreRequest, progress: (p: ExploreProgress) => void): Promise<ExploreReply>;
}

const PROGRESS_EVERY_MS = 200;
/**
 * A progress line at least this often, whatever the runs do: the client gives up after 120 s
 * without a line (serve-client.ts exploreServed), and no run ends for a long time while the
 * failing seeds are replayed to confirm them (up to 3 seeds x 5 replays per failing outcome, each
 * up to --timeout-ms), nor during one long replay. Seen under load (30-75): a replay killed after
 * its 2 s timeout, the confirmation of a timeout outcome then ran 15 of those in a row, and a CI
 * run's `explore -p` ended with neither 0 nor 1.
 */
const HEARTBEAT_MS = 5000;

export function explorable(t: Template, mailbox: Mailbox, heldByPtrace: () => boolean): Explorable {
  let busy = false;
  return {
    get busy() {
      return busy;
    },
    async explore(req, progress) {
      if (heldByPtrace()) return { ok: false, error: `template ${t.pid} is held by ptrace (the agent could not freeze it): its scheduler cannot be armed` };
      if (busy) return { ok: false, error: `template ${t.pid} is already being explored; wait until that forkall explore ends` };
      busy = true;
      const s = Session.attach(t, mailbox);
      const t0 = performance.now();
      let latest: ExploreProgress['progress'] = { runs: 0, outcomes: 0, failing: 0, elapsedMs: 0 };
      const beat = setInterval(() => progress({ progress: { ...latest, elapsedMs: Math.round(performance.now() - t0) } }), HEARTBEAT_MS);
      try {
        const timeoutMs = req.timeoutMs ?? 2000;
        if (req.replay) {
          const r = await replaySession(s, { seed: BigInt(req.seed), timeoutMs });
          const { exitCode, signal, timedOut, deadlock } = r;
          return { ok: true, replay: { seed: req.seed, exitCode, signal, timedOut, deadlock, stdout: r.stdout.toString('base64'), stderr: r.stderr.toString('base64') } };
        }
        let last = 0;
        const report = await exploreSession(s, {
          runs: req.runs ?? 1000,
          seconds: req.seconds,
          jobs: req.jobs ?? 4,
          timeoutMs,
          seed: BigInt(req.seed),
          confirm: req.confirm ?? 5,
          onRun: (table: OutcomeTable, _r, elapsedMs) => {
            if (elapsedMs - last < PROGRESS_EVERY_MS) return;
            last = elapsedMs;
            latest = progressOf(table, Math.round(elapsedMs));
            progress({ progress: latest });
          },
        });
        return { ok: true, report };
      } catch (e) {
        return { ok: false, error: (e as Error).message };
      } finally {
        clearInterval(beat);
        await s.close(); // disarms: later clones are plain clones again
        busy = false;
      }
    },
  };
}
