// `npm run bench`: measures scheduling, token counting, activation and the send path in one run, prints the
// tables, and writes docs/benchmarks.md with the plot docs/benchmarks-budget.svg.
import * as fs from 'node:fs';
import { measureActivation, packageSizes } from './activation/measure';
import { runDashboard } from './dashboard/section';
import { measureChatCounts } from './chat/measure';
import { fromRoot } from './paths';
import { verdict } from './report/goal';
import { describeMachine } from './report/machine';
import { describeRevision } from './report/revision';
import { measureSendPath } from './send/measure';
import { runSharedBudget } from './shared/section';
import { benchmarksMarkdown } from './report/markdown';
import { Table, toText } from './report/table';
import { runScheduling } from './scheduling/section';
import { runTokenCounting } from './tokens/section';

const SVG_FILE = 'benchmarks-budget.svg';

function print(tables: readonly Table[]): void {
  for (const table of tables) console.log(`\n${toText(table)}`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const date = new Date();
  const machine = describeMachine();
  const sizes = packageSizes();
  const revision = describeRevision();
  const log = (line: string) => console.log(line);
  console.log(
    `kimi-budget benchmarks (${revision}) — ${machine.cpu}, ${machine.cores} cores, ${machine.memory}, Node ${machine.node}, load ${machine.loadAverage}`,
  );

  console.log('\n== 1. Scheduling (simulated Moonshot, then real time on loopback)');
  const scheduling = await runScheduling(log);
  print([...scheduling.tables, scheduling.sensitivity, scheduling.loopback]);
  console.log(`\n${scheduling.summary.map((line) => `- ${line}`).join('\n')}`);

  console.log('\n== 2. Token counting');
  const tokens = await runTokenCounting(log);
  print(tokens.tables);

  console.log('\n== 3. Activation and size (VS Code 1.96.4)');
  const activation = await measureActivation(log, tokens.startMs, sizes);
  print(activation.tables);

  console.log('\n== 4. The send path (VS Code 1.96.4)');
  const sendPath = await measureSendPath(log);
  print(sendPath.tables);

  console.log('\n== 5. One budget for the account');
  const shared = await runSharedBudget(log);
  print(shared.tables);

  console.log('\n== 6. The budget dashboard');
  const dashboard = await runDashboard(log);
  print(dashboard.tables);

  console.log("\n== 7. Token counts for VS Code's chat (VS Code 1.106.3)");
  const chat = await measureChatCounts(log);
  print(chat.tables);

  console.log('\n== Goals');
  for (const goal of [
    ...scheduling.goals,
    ...tokens.goals,
    ...activation.goals,
    ...sendPath.goals,
    ...shared.goals,
    ...dashboard.goals,
    ...chat.goals,
  ]) {
    console.log(
      `- ${verdict(goal).padEnd(7)} ${goal.goal}: ${goal.measured}${goal.limitedBy ? `\n          limited by: ${goal.limitedBy}` : ''}`,
    );
  }

  const totalSeconds = (performance.now() - started) / 1000;
  fs.mkdirSync(fromRoot('docs'), { recursive: true });
  fs.writeFileSync(fromRoot('docs', SVG_FILE), scheduling.svg);
  fs.writeFileSync(
    fromRoot('docs', 'benchmarks.md'),
    benchmarksMarkdown({
      date,
      machine,
      command: 'npm run bench',
      revision,
      totalSeconds,
      scheduling,
      tokens,
      activation,
      sendPath,
      shared,
      dashboard,
      chat,
      svgFile: SVG_FILE,
    }),
  );
  console.log(`\nWrote docs/benchmarks.md and docs/${SVG_FILE} after ${totalSeconds.toFixed(0)} s.`);
}

main().then(
  () => process.exit(0), // a library's idle timer or worker must not keep the run alive
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
