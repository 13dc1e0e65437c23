// The `forkall` command. Each subcommand lives in ./commands/<name>.ts and exports
// `register(program)`; this file only wires them together.
import { Command, CommanderError } from 'commander';
import { register as registerDemo } from './commands/demo.js';
import { register as registerBench } from './commands/bench.js';
import { register as registerThreads } from './commands/threads.js';
import { register as registerLib } from './commands/lib.js';
import { register as registerRun } from './commands/run.js';
import { register as registerClone } from './commands/clone.js';
import { register as registerSnapshot } from './commands/snapshot.js';
import { register as registerBenchServer } from './commands/bench-server.js';
import { register as registerBenchRemote } from './commands/bench-remote.js';
import { register as registerBenchTree } from './commands/bench-tree.js';
import { register as registerUnfork } from './commands/unfork.js';
import { register as registerExplore } from './commands/explore.js';
import { register as registerBenchExplore } from './commands/bench-explore.js';
import { register as registerDoctor } from './commands/doctor.js';
import { EXIT } from './exit-codes.js';
import { UsageError } from './usage-error.js';
import { wantsJson, watchForJsonError } from './json-error.js';
import { version } from '../version.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('forkall')
    .description('fork(2) for multi-threaded Linux processes: clones in which every thread resumes where it was')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions()
    .exitOverride();
  registerDemo(program);
  const bench = registerBench(program);
  registerBenchServer(bench);
  registerBenchRemote(bench);
  registerBenchTree(bench);
  registerBenchExplore(bench);
  registerThreads(program);
  registerLib(program);
  registerRun(program);
  registerClone(program);
  registerSnapshot(program);
  registerUnfork(program);
  registerExplore(program);
  registerDoctor(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const json = wantsJson(argv) ? watchForJsonError(argv) : undefined;
  let code: number;
  let errorCode: string | undefined;
  try {
    code = await run(argv);
  } catch (err) {
    // not one of the failures a command reports: still one line, exit 1
    process.stderr.write(`forkall: ${err instanceof Error ? err.message : String(err)}\n`);
    code = EXIT.VERIFY_FAILED;
    errorCode = 'internal';
  } finally {
    json?.stop();
  }
  const failure = json?.result(code, errorCode);
  if (failure) process.stdout.write(JSON.stringify(failure) + '\n');
  return code;
}

async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`forkall: ${err.message}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof Error && err.message.startsWith('native artifact missing')) {
      process.stderr.write(`forkall: ${err.message}\n`);
      return EXIT.NATIVE;
    }
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    throw err;
  }
  // Commands report their outcome by setting process.exitCode (see exit-codes.ts).
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
}
