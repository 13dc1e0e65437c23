// Tables for terminal output; colours only when stdout is a terminal.
import Table from 'cli-table3';

export function makeTable(head: string[]): InstanceType<typeof Table> {
  const tty = Boolean(process.stdout.isTTY);
  return new Table({ head, style: { head: tty ? ['cyan'] : [], border: tty ? ['grey'] : [] } });
}
