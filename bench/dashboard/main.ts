// `npm run bench:dashboard`: section 6 of `npm run bench` alone, printed.
import { verdict } from '../report/goal';
import { toText } from '../report/table';
import { runDashboard } from './section';

runDashboard((line) => console.log(line)).then(
  ({ tables, goals }) => {
    for (const table of tables) console.log(`\n${toText(table)}`);
    for (const goal of goals) console.log(`- ${verdict(goal).padEnd(7)} ${goal.goal}: ${goal.measured}`);
    process.exit(0);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
