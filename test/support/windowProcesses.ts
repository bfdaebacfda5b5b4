/**
 * Windows as processes, for the multi-process tests: launch `accountWindow` children, read their
 * events, and check what the Moonshot-like server received.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { WindowConfig, WindowEvent } from './accountWindow';
import { FakeMoonshot } from './fakeMoonshot';

const SCRIPT = path.resolve(__dirname, 'accountWindow.js');

export interface Window {
  readonly name: string;
  readonly child: ChildProcess;
  readonly events: WindowEvent[];
  readonly exited: Promise<number | null>;
  role(): string | undefined;
  snapshot(): Promise<Extract<WindowEvent, { t: 'snapshot' }>>;
}

export function launch(config: WindowConfig): Window {
  const child = spawn(process.execPath, [SCRIPT], {
    env: { ...process.env, KIMI_WINDOW: JSON.stringify(config) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: WindowEvent[] = [];
  const waiters: ((e: WindowEvent) => void)[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as WindowEvent;
    events.push(event);
    for (const w of waiters.splice(0)) w(event);
  });
  child.stderr!.on('data', (chunk: Buffer) => process.env.KIMI_WINDOW_DEBUG && process.stderr.write(chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    name: config.name,
    child,
    events,
    exited,
    role: () => [...events].reverse().find((e): e is Extract<WindowEvent, { t: 'role' }> => e.t === 'role')?.role,
    snapshot: () =>
      new Promise((resolve) => {
        const wait = (e: WindowEvent) => (e.t === 'snapshot' ? resolve(e) : waiters.push(wait));
        waiters.push(wait);
        child.stdin!.write('snapshot\n');
      }),
  };
}

export const done = (w: Window) => w.events.some((e) => e.t === 'done');
/** What each window did, for a failure message. */
export const progress = (windows: Window[]) => () =>
  windows.map((w) => ({
    window: w.name,
    role: w.role(),
    queued: of(w, 'enqueued').length,
    admitted: of(w, 'admitted').length,
    answered: of(w, 'answered').length,
    failed: of(w, 'failed').map((f) => f.error),
  }));
export const of = <K extends WindowEvent['t']>(w: Window, t: K) => w.events.filter((e): e is Extract<WindowEvent, { t: K }> => e.t === t);

/** Admission times at the server, rebuilt from what it received: no `span` holds more than `limit`. */
export function busiestSpan(server: FakeMoonshot, span: number): number {
  const times = server.received
    .filter((r) => r.status === 200)
    .map((r) => r.at)
    .sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= span) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/** The earliest the last request could be admitted by a server with this rolling RPM, requests arriving when enqueued. */
export function oracleLastAdmission(arrivals: number[], rpm: number, windowMs: number): number {
  const sorted = [...arrivals].sort((a, b) => a - b);
  const admitted: number[] = [];
  for (const [i, at] of sorted.entries()) admitted.push(Math.max(at, i >= rpm ? admitted[i - rpm] + windowMs : at));
  return admitted[admitted.length - 1];
}

export function checkFifo(windows: Window[], slackMs: number): string[] {
  const sends = windows.flatMap((w) =>
    of(w, 'enqueued').map((e) => ({ id: `${w.name}#${e.send}`, enq: e.at, adm: of(w, 'admitted').find((a) => a.send === e.send)?.at })),
  );
  const broken: string[] = [];
  for (const a of sends)
    for (const b of sends)
      if (a.adm !== undefined && b.adm !== undefined && a.enq + slackMs < b.enq && a.adm > b.adm + slackMs)
        broken.push(`${a.id} (queued ${a.enq - b.enq} ms before ${b.id}) went out ${a.adm - b.adm} ms after it`);
  return broken;
}

/** The most tokens the server charged in any `span`, rebuilt from its own admission times. */
export function busiestTokens(server: FakeMoonshot, span: number): number {
  const admitted = server.received.filter((r) => r.status === 200).sort((a, b) => a.at - b.at);
  let most = 0;
  let sum = 0;
  for (let i = 0, j = 0; i < admitted.length; i++) {
    sum += admitted[i].charged;
    while (admitted[i].at - admitted[j].at >= span) sum -= admitted[j++].charged;
    most = Math.max(most, sum);
  }
  return most;
}
