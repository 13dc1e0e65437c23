// When the agent cannot freeze a program (a thread keeps the parking signal
// blocked: node, and other runtimes that block every signal in a thread; or a
// thread does not park in time for another reason),
// `forkall run` freezes it from outside instead: the program is stopped
// (SIGSTOP: it never runs its own code again, like a frozen template) and
// every clone is made from that held state by the remote engine (ptrace),
// which does not need the threads' cooperation. The clones are children of
// forkall (siblings of the program), reported and ended like the agent's.
//
// The agent stays loaded but idle in the program and its clones (its thread
// waits on the control channel, which carries nothing more); when forkall
// closes the channel the clones' agents end them, as a template's would.
import { cloneProcess } from '../../remote/api.js';
import { waitForExit } from '../../remote/wait-exit.js';
import { decodeWaitStatus } from '../../server/protocol.js';
import type { Clone, CloneNotCopied, CloneResult, Template } from '../../server/template.js';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

const BLOCKS = /thread \d+ \([^)]*\) did not park within \d+ ms(: it blocks the parking signal \d+| \(state .\)|: it is [^(\n]*[^ (\n])?/;

/** "thread T (name) did not park ...: it blocks the parking signal S", without advice meant for C callers. */
export function blockedReason(e: unknown): string {
  return (e instanceof Error && BLOCKS.exec(e.message)?.[0]) || String(e);
}

/** The agent's freeze failed because a thread did not park (it blocks the parking signal, or was late): ptrace needs no cooperation. */
export function blocksParkingSignal(e: unknown): boolean {
  return e instanceof Error && BLOCKS.test(e.message);
}

/** What `forkall run` clones: the agent's frozen template, or a program held from outside. */
export interface CloneSource {
  readonly pid: number;
  readonly threads: number;
  readonly compactedMb: number | null;
  onNotCopied: ((r: CloneNotCopied) => void) | undefined;
  clone(): Promise<Clone>;
}

function signalNumber(name: NodeJS.Signals): number {
  return (constants.signals as Record<string, number>)[name] ?? 0;
}

export class HeldProgram implements CloneSource {
  compactedMb: number | null = 0;
  onNotCopied: ((r: CloneNotCopied) => void) | undefined;

  private constructor(
    readonly pid: number,
    readonly threads: number,
    private readonly exactTids: boolean,
  ) {}

  /** Stops the program for good (SIGSTOP cannot be blocked): the template is now its held state. */
  static hold(t: Template, exactTids: boolean): HeldProgram {
    const pid = t.process.pid!;
    process.kill(pid, 'SIGSTOP');
    let threads = 0;
    try {
      threads = Number(/^Threads:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // counted again by each clone
    }
    return new HeldProgram(pid, threads, exactTids);
  }

  /** one ptrace clone at a time: a process has one tracer */
  private queue: Promise<unknown> = Promise.resolve();

  clone(): Promise<Clone> {
    const next = this.queue.then(() => this.cloneNow());
    this.queue = next.catch(() => {});
    return next;
  }

  private async cloneNow(): Promise<Clone> {
    const [c] = await cloneProcess(this.pid, { exactTids: this.exactTids });
    const pid = c!.pid;
    if (c!.notCopied?.length) this.onNotCopied?.({ pid, copied: c!.privateFds ?? 0, objects: c!.notCopied });
    const exited: Promise<CloneResult> = waitForExit(pid, 20).then((r) => {
      const status = r.signal !== null ? signalNumber(r.signal) & 0x7f : ((r.exitCode ?? 0) & 0xff) << 8;
      return r.signal !== null ? { exitCode: null, signal: r.signal, status } : { ...decodeWaitStatus(status), status };
    });
    return {
      pid,
      threads: c!.threads,
      exited,
      notCopied: c!.notCopied ?? [], // the remote engine's private event objects
      kill: (signal: NodeJS.Signals | number = 'SIGTERM') => {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      },
      stdin: null,
      stdout: null,
      stderr: null,
    };
  }

  /** The held program ends with forkall, as a frozen template does. */
  close(): void {
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

