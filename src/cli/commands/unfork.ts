// `forkall unfork -p PID --call SYMBOL --arg X`: import a live process's memory
// into a helper, lazily, and run the target's own functions (or read its
// memory) there — no ptrace, no signal, the target never stops.
import type { Command } from 'commander';
import { UnforkError, type UnforkErrorCode } from '../../unfork/errors.js';
import { unfork, type Unfork } from '../../unfork/unfork.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';
import { UsageError } from '../usage-error.js';

const EXIT_FOR: Record<UnforkErrorCode, ExitCode> = {
  'bad-pid': EXIT.USAGE,
  'no-symbol': EXIT.USAGE,
  'not-mapped': EXIT.USAGE,
  'no-such-process': EXIT.NO_PROCESS,
  denied: EXIT.DENIED,
  'uffd-denied': EXIT.DENIED,
  collide: EXIT.BAD_TARGET,
  'bad-target': EXIT.BAD_TARGET,
  'no-tls': EXIT.BAD_TARGET,
  crash: EXIT.CLONE_FAILED,
  fault: EXIT.CLONE_FAILED,
  timeout: EXIT.CLONE_FAILED,
  closed: EXIT.CLONE_FAILED,
  failed: EXIT.CLONE_FAILED,
};

type Op = { op: 'call'; symbol: string; args: string[] } | { op: 'read'; where: string; len: number };

interface Opts {
  pid: string;
  refresh?: boolean;
  consistent?: boolean;
  userModeOnly?: boolean;
  timeout: string;
  json?: boolean;
}

function parseRead(spec: string): Op {
  const i = spec.lastIndexOf(':');
  const where = spec.slice(0, i);
  const len = Number(spec.slice(i + 1));
  if (i <= 0 || !Number.isSafeInteger(len) || len < 1 || len > 1 << 30)
    throw new UsageError(`--read expects ADDR:LEN or SYMBOL:LEN (LEN from 1 to 2^30, e.g. 0x7f0000001000:64 or token:8), got '${spec}'`);
  return { op: 'read', where, len };
}

function hexDump(addr: bigint, b: Buffer): string {
  const lines: string[] = [];
  for (let o = 0; o < b.length; o += 16) {
    const row = b.subarray(o, o + 16);
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const text = [...row].map((x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${(addr + BigInt(o)).toString(16).padStart(12, '0')}  ${hex.padEnd(47)}  |${text}|`);
  }
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  let ops: Op[] = [];
  program
    .command('unfork')
    .description("run a live process's own functions on a lazy copy of its memory, without stopping, tracing or signalling it")
    .requiredOption('-p, --pid <pid>', 'the process to import')
    .option('--call <symbol>', 'call SYMBOL(const char *...) in the copy and print what it writes to stdout and its return value (repeatable)', (v: string) => {
      ops.push({ op: 'call', symbol: v, args: [] });
      return v;
    })
    .option('--arg <string>', 'a string argument of the --call before it (repeatable, up to 6)', (v: string) => {
      const last = ops[ops.length - 1];
      if (!last || last.op !== 'call') throw new UsageError(`--arg '${v}' must follow a --call`);
      last.args.push(v);
      return v;
    })
    .option('--read <addr:len>', 'dump LEN bytes at ADDR (hex, 0x...) or at SYMBOL (repeatable)', (v: string) => {
      ops.push(parseRead(v));
      return v;
    })
    .option('--refresh', 'import changed pages again before every --call/--read after the first')
    .option('--consistent', 'import from a held copy made with the remote engine (one coherent instant; the target is stopped for a few ms with ptrace)')
    .option('--user-mode-only', 'if userfaultfd is not permitted, use UFFD_USER_MODE_ONLY (faults inside system calls then fail)')
    .option('--timeout <ms>', 'how long one call or read may take', '30000')
    .option('--json', 'print {"pid","source","warnings","pagesImported","pagesMapped","steps":[{"op":"call","symbol","address","args","returned","output","stderr"}|{"op":"read","address","len","hex"}]} as JSON')
    .addHelpText(
      'after',
      `
How it works: a static helper re-creates every mapping of the target at the
same address as empty memory registered with userfaultfd; each page is read
from the target (process_vm_readv) the first time it is touched. The target's
function then runs in the helper with the target's main-thread TLS. The
target is only read: it is never stopped, traced or signalled (except with
--consistent). The copy is lazy, so it is not one instant: pages read later
show later contents (docs/unfork.md).

Examples:
  forkall unfork -p 4242 --call print_token --arg X --call print_token --arg Y
  forkall unfork -p 4242 --read token:8 --read 0x7f12a0000000:64 --json
  forkall unfork -p 4242 --consistent --call dump_state
  forkall unfork -p $(pgrep -n python3) --call PyGILState_Ensure \\
    --call PyRun_SimpleString --arg "import sys; print(sys.modules.keys()); sys.stdout.flush()"

Exit codes: 0 ok, 2 bad flag, symbol not found or address not mapped, 4 no
such process, 5 the target cannot be imported (a zombie or kernel thread, a
mapping in the helper's range 0x6f0000000000-0x700000000000, no main-thread TLS), 7 no
ptrace-read permission or userfaultfd not permitted, 8 the call failed in the
copy (crash, page gone from the target, timeout; the target was not affected).`,
    )
    .action(async (o: Opts) => {
      const steps: Record<string, unknown>[] = [];
      const todo = ops;
      ops = [];
      let u: Unfork | undefined;
      // Ctrl-C: the helper (same process group) ends anyway; the held copy of --consistent must not be left stopped.
      const onSignal = () => {
        u?.abort();
        process.exit(EXIT.INTERRUPTED);
      };
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
      try {
        const pidNum = Number(o.pid);
        if (!/^\d+$/.test(o.pid) || pidNum < 1) throw new UsageError(`-p expects a process ID (a positive whole number), got '${o.pid}'`);
        const timeout = parsePositiveInt('--timeout', o.timeout);
        if (todo.length === 0) throw new UsageError('nothing to do: give --call SYMBOL and/or --read ADDR:LEN');
        u = await unfork(pidNum, { consistent: o.consistent, userModeOnly: o.userModeOnly, callTimeoutMs: timeout });
        for (const w of u.warnings) process.stderr.write(`forkall: warning: ${w === 'vdso-dropped' ? "the vdso could not be moved to the target's address; functions that use it (clock_gettime) will crash" : w}\n`);
        for (const [i, op] of todo.entries()) {
          if (o.refresh && i > 0) await u.refresh();
          if (op.op === 'call') {
            const r = await u.call(op.symbol, ...op.args);
            steps.push({ op: 'call', symbol: op.symbol, address: `0x${r.address.toString(16)}`, args: op.args, returned: r.returned.toString(), output: r.output.toString('utf8'), stderr: r.stderr.toString('utf8') });
            if (!o.json) process.stderr.write(r.stderr);
            if (!o.json) {
              const out = r.output.toString('utf8');
              process.stdout.write(out + (out && !out.endsWith('\n') ? '\n' : ''));
              process.stdout.write(`${op.symbol}(${op.args.map((a) => JSON.stringify(a)).join(', ')}) returned ${BigInt.asIntN(64, r.returned)} (0x${r.returned.toString(16)})\n`);
            }
          } else {
            const addr = /^(0x[0-9a-f]+|\d+)$/i.test(op.where) ? BigInt(op.where) : u.symbol(op.where).address;
            const b = await u.read(addr, op.len);
            steps.push({ op: 'read', where: op.where, address: `0x${addr.toString(16)}`, len: op.len, hex: b.toString('hex') });
            if (!o.json) process.stdout.write(hexDump(addr, b));
          }
        }
        if (o.json) {
          const st = await u.stats();
          process.stdout.write(JSON.stringify({ pid: u.pid, source: u.source, consistent: !!o.consistent, warnings: u.warnings, ...st, steps }, null, 2) + '\n');
        }
        process.exitCode = EXIT.OK;
      } catch (e) {
        if (!(e instanceof UnforkError)) throw e;
        process.stderr.write(`forkall: ${e.message}\n`);
        if (o.json) process.stdout.write(JSON.stringify({ pid: Number(o.pid), source: u?.source, steps, error: { code: e.code, message: e.message } }, null, 2) + '\n');
        process.exitCode = EXIT_FOR[e.code];
      } finally {
        await u?.close();
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });
}
