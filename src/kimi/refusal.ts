import { LimitName } from '../core/limits';

/** What a rate refusal's words say: the limit, whose it is, the number stated, what the server counted. */
export interface RefusalReading {
  readonly limit?: LimitName;
  readonly scope?: 'organization' | 'project';
  /** The limit's value as the server stated it. */
  readonly stated?: number;
  /** What the server counted against it (TPM and TPD refusals say). */
  readonly current?: number;
}

const NAMES: Readonly<Record<string, LimitName>> = {
  rpm: 'requestsPerMinute',
  request: 'requestsPerMinute',
  tpm: 'tokensPerMinute',
  tpd: 'tokensPerDay',
  concurrency: 'concurrency',
};

const count = (text: string | undefined) => {
  const n = Number(text);
  return text !== undefined && Number.isSafeInteger(n) && n >= 1 ? n : undefined;
};

/**
 * Reads a Moonshot rate refusal. The server's words vary by limit and over time, and do not always
 * follow its own documentation; each form below was seen in a real answer (see the fixtures of the
 * tests) or is the documented one:
 * - "request reached organization max RPM: 3, please try again after 1 seconds"
 * - "request reached max organization concurrency: 1, …" (and "organization max concurrency: N")
 * - "request reached organization TPM rate limit, current: X, limit: Y" ("current:X, limit:Y" too)
 * - "request reached organization TPD rate limit, current: X, limit: Y"
 * - "request reached project TPM rate limit, current: 1410, limit: 100, see …"
 * - the older "request reached max request: 3, …", "max concurrency: N", "TPM rate limit, current…"
 * - "Organization Rate limit exceeded, please try again after 1 seconds": no limit named
 */
export function readRefusal(message: string | undefined): RefusalReading {
  if (!message) return {};
  const scopeOf = (word: string | undefined) => (word ? (word.toLowerCase() as 'organization' | 'project') : undefined);
  // "… (organization|project) (RPM|TPM|TPD) rate limit, current: X, limit: Y"
  const rate = /\b(organization|project)?\s*\b(RPM|TPM|TPD|RPD)\s+rate\s+limit\b[\s,]*current\s*:\s*(\d+)\s*,\s*limit\s*:\s*(\d+)/i.exec(
    message,
  );
  if (rate) {
    const limit = NAMES[rate[2].toLowerCase()];
    return { ...(limit ? { limit } : {}), scope: scopeOf(rate[1]), stated: count(rate[4]), current: count(rate[3]) };
  }
  // "… (organization|project) max (RPM|concurrency|request): N" and "… max (organization|project) concurrency: N"
  const max = /\b(?:(organization|project)\s+)?max\s+(?:(organization|project)\s+)?(RPM|concurrency|request|requests)\s*:\s*(\d+)/i.exec(
    message,
  );
  if (max) {
    const limit = NAMES[max[3].toLowerCase().replace(/s$/, '')];
    return { limit, scope: scopeOf(max[1] ?? max[2]), stated: count(max[4]) };
  }
  // A limit named without its number.
  if (/\bRPM\b/.test(message)) return { limit: 'requestsPerMinute' };
  if (/\bTPM\b/.test(message)) return { limit: 'tokensPerMinute' };
  if (/\bTPD\b/.test(message)) return { limit: 'tokensPerDay' };
  if (/concurren/i.test(message)) return { limit: 'concurrency' };
  return {};
}

/** Whether a refusal's words say the server is short of capacity (the Anthropic endpoint types it as a rate error). */
export function saysOverloaded(message: string | undefined): boolean {
  return !!message && /engine is (currently )?overloaded/i.test(message);
}
