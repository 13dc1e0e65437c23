// `forkall lib`: where the preloadable agent library is, for LD_PRELOAD / AFL_PRELOAD.
import type { Command } from 'commander';
import { nativeArtifact } from '../../native/paths.js';
import { EXIT } from '../exit-codes.js';

export function register(program: Command): void {
  program
    .command('lib')
    .description('print the path of the preloadable agent library (or, with --c-api, of libforkall.so)')
    .option('--c-api', 'print the path of libforkall.so, the C library to link with, instead')
    .addHelpText(
      'after',
      `
Examples:
  AFL_PRELOAD=$(forkall lib) FORKALL_FORK=all afl-fuzz -i in -o out -- ./target
  LD_PRELOAD=$(forkall lib) FORKALL_FORK=all ./server-with-a-fork-server`,
    )
    .action((o: { cApi?: boolean }) => {
      process.stdout.write(nativeArtifact(o.cApi ? 'libforkall.so' : 'libforkall-agent.so') + '\n');
      process.exitCode = EXIT.OK;
    });
}
