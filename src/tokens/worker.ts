// The tokenizer thread: TokenCounter starts it on the first count. Loads o200k_base on the first
// request, then answers count requests one at a time, in order; a cancel drops a queued request or
// stops the running one at its next slice.
import { parentPort } from 'worker_threads';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import { PieceCounter } from './pieceCounter';
import type { WorkerReply, WorkerRequest } from './protocol';

interface Job {
  id: number;
  text: string;
  abort: AbortController;
}

if (!parentPort) throw new Error('src/tokens/worker runs in a worker thread (started by TokenCounter)');
const port = parentPort;
const queue: Job[] = [];
let running: Job | undefined;
let counter: PieceCounter | undefined;

/** Slices of long texts still arriving, by request id. */
const parts = new Map<number, string[]>();

port.on('message', (request: WorkerRequest) => {
  if (request.type === 'cancel') {
    parts.delete(request.id);
    if (running?.id === request.id) running.abort.abort();
    const queued = queue.findIndex((job) => job.id === request.id);
    if (queued >= 0) queue.splice(queued, 1);
    return;
  }
  if (request.type === 'part') {
    parts.set(request.id, [...(parts.get(request.id) ?? []), request.text]);
    return;
  }
  const text = parts.has(request.id) ? parts.get(request.id)!.join('') + request.text : request.text;
  parts.delete(request.id);
  queue.push({ id: request.id, text, abort: new AbortController() });
  if (!running) void drain();
});

async function drain(): Promise<void> {
  while ((running = queue.shift())) {
    const job = running;
    try {
      const count = await loadCounter().count(job.text, job.abort.signal);
      reply({ id: job.id, ...count });
    } catch (error) {
      if (!job.abort.signal.aborted) reply({ id: job.id, error: error instanceof Error ? error.message : String(error) });
    }
  }
}

function loadCounter(): PieceCounter {
  if (!counter) {
    // A plain require: the package's `exports` map serves this path, which the tsconfig's module
    // resolution cannot see; esbuild bundles it either way, evaluated only here (~0.5 s, 2.3 MB).
    const ranks = require('js-tiktoken/ranks/o200k_base') as TiktokenBPE;
    counter = new PieceCounter(new Tiktoken(ranks), ranks.pat_str);
  }
  return counter;
}

function reply(message: WorkerReply): void {
  port.postMessage(message);
}
