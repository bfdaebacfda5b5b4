// How a failed send is told to the user: the cause, and the fix as a button. No `vscode` here.
import { SendRejected } from '../core/sendQueue';
import { KimiError } from '../kimi/kimiError';
import type { Severity } from './notifier';
import { describeRejection } from './words';

export type FixAction = 'Set API Key' | 'Pick a Model' | 'Open Settings';

export interface FailureMessage {
  readonly severity: Severity;
  readonly message: string;
  readonly actions: FixAction[];
}

export function describeFailure(error: unknown, context: { model: string; baseUrl: string; attempts: number }): FailureMessage {
  if (error instanceof SendRejected) {
    const severity = error.reason === 'cancelled' ? 'info' : 'error';
    return {
      severity,
      message: `Kimi: ${describeRejection(error.rejection)}`,
      actions: error.reason === 'cancelled' || error.reason === 'accountStopped' ? [] : ['Open Settings'],
    };
  }
  if (!(error instanceof KimiError)) {
    return { severity: 'error', message: `Kimi: the send failed unexpectedly: ${(error as Error)?.message ?? String(error)}`, actions: [] };
  }
  const server = error.serverMessage ? ` Moonshot said: "${error.serverMessage}"` : '';
  const tries = context.attempts > 1 ? ` after ${context.attempts} attempts` : '';
  switch (error.kind) {
    case 'unauthorized':
      return { severity: 'error', message: `Kimi: ${error.message}`, actions: ['Set API Key'] };
    case 'notFound':
      return {
        severity: 'error',
        message: `Kimi: the server does not know the model "${context.model}" (kimiBudget.model).${server} Pick one the server lists.`,
        actions: ['Pick a Model'],
      };
    case 'quotaExhausted':
      return {
        severity: 'error',
        message: `Kimi: Moonshot refused the send because the account's balance or its plan's quota is spent (or the account is suspended). Top up, or check the plan, in Moonshot's console. The send was not retried, and nothing waiting was sent.${server}`,
        actions: [],
      };
    case 'rateLimited':
      return {
        severity: 'error',
        message: `Kimi: Moonshot still refused for rate${tries}.${server} Your limits in settings may be above your account's tier, or another client shares the account: lower kimiBudget.limits.*.`,
        actions: ['Open Settings'],
      };
    case 'overloaded':
    case 'server':
      if (error.status === undefined) {
        // Not an HTTP status: the answer itself went wrong (malformed, larger than its max_tokens allow), which the client's message says.
        return {
          severity: 'error',
          message: `Kimi: ${error.message}${error.streamed ? ' What arrived is kept in the answer editor.' : ''}`,
          actions: [],
        };
      }
      return {
        severity: 'error',
        message: `Kimi: Moonshot failed${tries} (${error.status}).${server} Try again in a while.`,
        actions: [],
      };
    case 'network':
      return error.streamed
        ? {
            severity: 'error',
            message: `Kimi: the connection dropped after part of the answer arrived; what arrived is kept in the answer editor. ${error.message}`,
            actions: [],
          }
        : { severity: 'error', message: `Kimi: ${error.message} (kimiBudget.baseUrl is ${context.baseUrl}.)`, actions: ['Open Settings'] };
    case 'cancelled':
      return { severity: 'info', message: 'Kimi: the send was cancelled.', actions: [] };
    case 'badRequest':
      if (/temperature|top_p/i.test(error.serverMessage ?? '')) {
        const setting = /top_p/i.test(error.serverMessage ?? '') ? 'kimiBudget.topP' : 'kimiBudget.temperature';
        return {
          severity: 'error',
          message: `Kimi: Moonshot refused the sampling settings for ${context.model}.${server} Change or unset ${setting} (thinking models are reported to accept only temperature 1).`,
          actions: ['Open Settings'],
        };
      }
      return {
        severity: 'error',
        message: `Kimi: Moonshot refused the request (${error.status ?? error.kind}).${server || ' ' + error.message}`,
        actions: [],
      };
    case 'forbidden':
      return {
        severity: 'error',
        message: `Kimi: Moonshot refused the request (${error.status ?? error.kind}).${server || ' ' + error.message}`,
        actions: [],
      };
  }
}

/** The cause in one sentence, for the note an answer's editor keeps. */
export function causeOf(error: unknown): string {
  if (error instanceof SendRejected) return describeRejection(error.rejection);
  return error instanceof Error ? error.message : String(error);
}
