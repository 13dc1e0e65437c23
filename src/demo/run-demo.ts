// Runs the bundled example (native/demo/forkall-demo.c) and checks its clones:
// every thread of the original must have resumed in every clone and produced
// the same result as in the original.
import { runTool } from '../native/run-tool.js';
import { toolBinary } from '../native/paths.js';

export interface DemoThread {
  label: string;
  name: string;
  tid: number;
  state: string;
}

export interface DemoProcessResult {
  role: 'clone' | 'original';
  index: number;
  pid: number;
  threads: number;
  results: Record<string, string>;
}

export interface DemoCheck {
  clone: number;
  pid: number;
  label: string;
  resumed: boolean;
  same: boolean;
  value: string | undefined;
}

export interface DemoReport {
  ok: boolean;
  reason?: string;
  threads: DemoThread[];
  original?: DemoProcessResult;
  clones: DemoProcessResult[];
  checks: DemoCheck[];
  timing?: { forkallMedianUs: number; forkMedianUs: number; samples: number };
}

export async function runDemo(clones: number): Promise<DemoReport> {
  const r = await runTool(toolBinary('forkall-demo'), [String(clones)], { timeoutMs: 120_000 });
  const report: DemoReport = { ok: false, threads: [], clones: [], checks: [] };
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line) as { type: string } & Record<string, unknown>;
    if (msg.type === 'thread') report.threads.push(msg as unknown as DemoThread);
    else if (msg.type === 'result') {
      const p = msg as unknown as DemoProcessResult;
      if (p.role === 'original') report.original = p;
      else report.clones.push(p);
    } else if (msg.type === 'timing') report.timing = msg as unknown as DemoReport['timing'];
    else if (msg.type === 'error') report.reason = String(msg.message);
  }
  report.clones.sort((a, b) => a.index - b.index);
  if (r.code !== 0) {
    report.reason ??= `the demo program ended with ${r.signal ?? `exit code ${r.code}`}: ${r.stderr.trim()}`;
    return report;
  }
  if (!report.original) {
    report.reason = 'the original did not report its results';
    return report;
  }
  for (const c of report.clones)
    for (const t of report.threads) {
      const value = c.results[t.label];
      report.checks.push({
        clone: c.index,
        pid: c.pid,
        label: t.label,
        resumed: value !== undefined && c.threads === report.original.threads,
        same: value === report.original.results[t.label],
        value,
      });
    }
  const bad = report.checks.find((k) => !k.resumed || !k.same);
  if (report.clones.length !== clones) report.reason = `${report.clones.length} of ${clones} clones reported`;
  else if (bad) report.reason = `clone ${bad.clone}: thread '${bad.label}' ${bad.resumed ? 'produced a different result' : 'did not resume'}`;
  report.ok = !report.reason;
  return report;
}
