// `npm run bench:chat [-- FILE.vsix]`: the chat's token counts alone (section 6 of `npm run bench`), printed.
import * as path from 'node:path';
import { toText } from '../report/table';
import { verdict } from '../report/goal';
import { measureChatCounts } from './measure';

async function main(): Promise<void> {
  const vsix = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  const result = await measureChatCounts((line) => console.log(line), vsix);
  for (const table of result.tables) console.log(`\n${toText(table)}`);
  for (const goal of result.goals) console.log(`- ${verdict(goal).padEnd(7)} ${goal.goal}: ${goal.measured}`);
  if (result.failure) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
