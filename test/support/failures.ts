/** Failures for tests: Moonshot's refusals for FakeMoonshot to inject, and KimiErrors as the client makes them. */
import * as assert from 'node:assert/strict';
import { KimiError, type KimiErrorKind } from '../../src/kimi';
import type { KimiErrorInit } from '../../src/kimi/kimiError';
import type { Fault } from './fakeMoonshot';

const ACCOUNT = 'Your account org-x<ak-y>';

/** What Moonshot says when it refuses a request, in its own words. */
export const moonshotSays = {
  maxRpm: (rpm: number, afterSeconds: number): string =>
    `${ACCOUNT} request reached organization max RPM: ${rpm}, please try again after ${afterSeconds} seconds`,
  maxConcurrency: (concurrency: number, afterSeconds: number): string =>
    `${ACCOUNT} request reached organization max concurrency: ${concurrency}, please try again after ${afterSeconds} seconds`,
  tpm: (current: number, limit: number): string =>
    `${ACCOUNT} request reached organization TPM rate limit, current:${current}, limit:${limit}`,
  tpd: (current: number, limit: number): string =>
    `${ACCOUNT} request reached organization TPD rate limit, current: ${current}, limit: ${limit}`,
  overloaded: 'The engine is currently overloaded, please try again later',
  suspended: `${ACCOUNT} is suspended, please check your plan and billing details`,
  incorrectKey: (key: string): string => `Incorrect API key provided: ${key}`,
};

/** Error answers for `FakeMoonshot.failNext`; `more` aims one at a prompt or adds headers. */
export const serverFault = {
  rateLimited: (message: string, more: Partial<Fault> = {}): Fault => ({ status: 429, type: 'rate_limit_reached_error', message, ...more }),
  overloaded: (more: Partial<Fault> = {}): Fault => ({
    status: 429,
    type: 'engine_overloaded_error',
    message: moonshotSays.overloaded,
    ...more,
  }),
  quotaExhausted: (more: Partial<Fault> = {}): Fault => ({
    status: 429,
    type: 'exceeded_current_quota_error',
    message: moonshotSays.suspended,
    ...more,
  }),
  incorrectKey: (key: string, more: Partial<Fault> = {}): Fault => ({
    status: 401,
    type: 'incorrect_api_key_error',
    message: moonshotSays.incorrectKey(key),
    ...more,
  }),
  internalError: (more: Partial<Fault> = {}): Fault => ({ status: 500, type: 'server_error', message: 'Internal error', ...more }),
};

/** A KimiError of `kind` for code that acts on errors; its message is a placeholder unless given. */
export function kimiError(kind: KimiErrorKind, fields: Partial<KimiErrorInit> = {}): KimiError {
  return new KimiError({ kind, message: `a ${kind} failure`, ...fields });
}

/** What the client makes of a 429 `rate_limit_reached_error` saying `serverMessage`. */
export function rateLimitedError(serverMessage: string, retryAfterMs?: number): KimiError {
  return kimiError('rateLimited', { status: 429, type: 'rate_limit_reached_error', serverMessage, retryAfterMs });
}

/** Awaits a call that must fail with a KimiError, and returns the error. */
export async function kimiErrorFrom(call: Promise<unknown>): Promise<KimiError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof KimiError, `expected a KimiError, got ${String(error)}`);
    return error;
  }
  return assert.fail('expected the call to fail with a KimiError');
}
