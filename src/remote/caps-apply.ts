// Running the capability steps of caps.ts in threads of a clone (or its
// namespace init): step k of every thread at once, each checked, so a thread
// that cannot get its original's capabilities back fails the clone, naming
// the thread and the call.
import { checkResult, injectAll, NR, type Call } from './inject.js';
import type { CapStep } from './caps.js';
import type { ProcessMemory } from './memory.js';
import type { TracedTask } from './task.js';

export interface CapJob {
  task: TracedTask;
  /** registers for the injected calls */
  base: Buffer;
  /** 32 bytes of the thread's dead stack for capset's argument */
  slot: bigint;
  steps: CapStep[];
}

export function applyCapSteps(jobs: CapJob[], insn: bigint, mem: ProcessMemory): void {
  const rounds = Math.max(0, ...jobs.map((j) => j.steps.length));
  for (let k = 0; k < rounds; k++) {
    const now = jobs.filter((j) => j.steps[k]);
    const calls: Call[] = now.map((j) => {
      const s = j.steps[k]!;
      if ('capset' in s) {
        mem.write(j.slot, s.capset);
        return { task: j.task, base: j.base, nr: NR.capset, args: [j.slot, j.slot + 8n] };
      }
      return { task: j.task, base: j.base, nr: NR.prctl, args: s.prctl };
    });
    injectAll(calls, insn).forEach((r, i) => checkResult(`${now[i]!.steps[k]!.what}, giving it its original's capabilities,`, now[i]!.task.tid, r));
  }
}
