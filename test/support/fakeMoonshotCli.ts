/**
 * Runs the fake Moonshot server on its own, for trying the extension by hand:
 *   node out/test/support/fakeMoonshotCli.js --port 0 --rpm 120 --tpm 150000 --concurrency 0 --window-ms 60000 --chunk-delay-ms 30
 * Then point kimiBudget.baseUrl at the printed URL and set the printed API key.
 */
import { parseArgs } from 'node:util';
import { FakeMoonshot } from './fakeMoonshot';

const USAGE = `Usage: node out/test/support/fakeMoonshotCli.js [--port N] [--host H] [--rpm N] [--tpm N]
  [--concurrency N] [--tpd N] [--window-ms N] [--day-ms N] [--chunk-delay-ms N] [--answer-chunks N] [--api-key K]
Limits of 0 mean unlimited.`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  concurrency: { type: 'string' },
  tpd: { type: 'string' },
  'window-ms': { type: 'string' },
  'day-ms': { type: 'string' },
  'chunk-delay-ms': { type: 'string' },
  'answer-chunks': { type: 'string' },
  'api-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type NumberFlag = 'port' | 'rpm' | 'tpm' | 'concurrency' | 'tpd' | 'window-ms' | 'day-ms' | 'chunk-delay-ms' | 'answer-chunks';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: OPTIONS, strict: true });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const n = (flag: NumberFlag): number | undefined => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(value) || value < 0) throw new Error(`--${flag} needs a whole number ≥ 0, got "${raw}"`);
    return value;
  };
  const server = new FakeMoonshot({
    port: n('port'),
    host: values.host,
    rpm: n('rpm'),
    tpm: n('tpm'),
    concurrency: n('concurrency'),
    tpd: n('tpd'),
    windowMs: n('window-ms'),
    dayMs: n('day-ms'),
    chunkDelayMs: n('chunk-delay-ms'),
    answerChunks: n('answer-chunks'),
    apiKey: values['api-key'],
  });
  const baseUrl = await server.start();
  console.log(`Fake Moonshot listening on ${baseUrl}`);
  console.log(`API key: ${server.apiKey}`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping (${server.stats.accepted} requests answered, ${server.stats.chargedTokens} tokens charged)`);
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  console.error(USAGE);
  process.exit(2);
});
