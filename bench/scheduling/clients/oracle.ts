import type { Prompt } from '../workloads';
import { callFor, Client } from './client';

/**
 * Knows the server's exact state (every charge, when every stream ends) and has each prompt, in
 * order, arrive at the server at the first instant it would be admitted: no client that sends in
 * the same order can finish earlier. It cannot send a prompt before the prompt exists plus one
 * network delay; the teammate's future requests are the only thing it does not know.
 */
export const oracleClient: Client = {
  name: 'oracle',
  description:
    "sends each prompt, in order, so that it reaches the server at the first instant the server would admit it (computed from the server model's state); never refused",
  start({ clock, server, workload, finished }) {
    const waiting: Prompt[] = [];
    let cancel: (() => void) | undefined;
    const dispatch = (): void => {
      cancel?.();
      cancel = undefined;
      while (waiting.length) {
        const head = waiting[0];
        const charge = head.promptTokens + workload.maxTokens;
        const earliest = Math.max(clock.now(), head.arrivalAt + server.rules.nominalLatencyMs);
        if (earliest <= clock.now() && server.fits(charge)) {
          waiting.shift();
          void server.admitNow(callFor(head, workload)).then((answer) => finished(head, answer));
          continue;
        }
        // Room may be taken meanwhile (by the teammate): then this runs again and re-plans.
        cancel = clock.setTimer(server.earliestFit(charge, earliest) - clock.now(), dispatch);
        return;
      }
    };
    return (prompt) => {
      waiting.push(prompt);
      dispatch();
    };
  },
};
