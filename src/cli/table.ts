// Tables for terminal output: a rule under the header and around the table, none
// between rows (cli-table3 draws one under every row); colours only when stdout
// is a terminal.
import Table from 'cli-table3';

/** A rule line between rows, possibly wrapped in colour codes. */
const RULE = /^(?:\x1b\[[0-9;]*m)*├/;

class RuledTable extends Table {
  override toString(): string {
    let first = (this.options.head?.length ?? 0) > 0;
    return super
      .toString()
      .split('\n')
      .filter((line) => {
        if (!RULE.test(line)) return true;
        const keep = first; // the rule under the header
        first = false;
        return keep;
      })
      .join('\n');
  }
}

export function makeTable(head: string[]): InstanceType<typeof Table> {
  const tty = Boolean(process.stdout.isTTY);
  return new RuledTable({ head, style: { head: tty ? ['cyan'] : [], border: tty ? ['grey'] : [] } });
}

export { counted } from './counted.js';
