// `forkall bench`: fork, the floor and forkall (and exact-TID forkall) per
// configuration, measured by the native driver in one process per
// configuration, runs interleaved.
import { runTool } from '../native/run-tool.js';
import { toolBinary } from '../native/paths.js';
import { Progress } from './progress.js';

export interface LatencyResult {
  threads: number;
  rssMb: number;
  runs: number;
  forkUs: number;
  floorUs: number;
  forkallUs: number;
  ratio: number;
  forkallP90Us: number;
  exactUs?: number;
  /** CPU time (user + system, this process and the reaped child) of one floor / one forkall, medians */
  floorCpuUs: number;
  forkallCpuUs: number;
  cpuRatio: number;
  /** median of each phase of forkall, as forkall_last_timing() names them (µs) */
  phases: Record<string, number>;
}

export interface LatencyOptions {
  threads: number[];
  rssMb: number[];
  runs: number;
  exact: boolean;
  progress?: boolean;
}

export async function benchLatency(o: LatencyOptions): Promise<LatencyResult[]> {
  const driver = toolBinary('forkall-bench');
  const configs = o.rssMb.flatMap((rssMb) => o.threads.map((threads) => ({ threads, rssMb })));
  const bar = new Progress(configs.length * o.runs, 'bench');
  const results: LatencyResult[] = [];
  for (const c of configs) {
    const args = [String(c.threads), String(c.rssMb), String(o.runs), ...(o.exact ? ['--exact'] : [])];
    const note = `${c.threads} threads, ${c.rssMb} MB`;
    const r = await runTool(driver, args, {
      onStderr: (chunk) => o.progress !== false && bar.tick((chunk.match(/\./g) ?? []).length, note),
    });
    if (r.code !== 0) {
      bar.end();
      const why = r.stderr.replace(/\.+/g, '').trim() || `exit ${r.code ?? r.signal}`;
      throw new Error(`bench driver failed for ${note}: ${why}`);
    }
    results.push(JSON.parse(r.stdout.trim()) as LatencyResult);
  }
  bar.end();
  return results;
}
