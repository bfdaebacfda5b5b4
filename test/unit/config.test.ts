import * as assert from 'node:assert/strict';
import { DEFAULTS, parseConfig } from '../../src/core/config';
import { DEFAULT_LIMITS } from '../../src/core/limits';
import { actualCost, maxCost, priceOf } from '../../src/core/cost';
import { describeSettingProblem, formatUsd } from '../../src/ui/words';

/** The settings read, and each problem as the warning words it (the problems themselves are data). */
const from = (settings: Record<string, unknown>) => {
  const { config, problems } = parseConfig((key) => settings[key]);
  return { config, problems: problems.map(describeSettingProblem), found: problems };
};

describe('parseConfig', () => {
  it('gives the contract defaults when nothing is set', () => {
    const { config, problems } = from({});
    assert.deepEqual(problems, []);
    assert.equal(config.baseUrl, 'https://api.moonshot.ai/v1');
    assert.equal(config.model, 'kimi-k2.6');
    assert.equal(config.maxOutputTokens, DEFAULTS.maxOutputTokens);
    assert.deepEqual(config.limits, DEFAULT_LIMITS);
    assert.equal(config.limits.requestsPerMinute, 120, 'for example');
    assert.equal(config.queue.maxLength, DEFAULTS.maxLength);
    assert.equal(config.queue.maxWaitMs, DEFAULTS.maxWaitSeconds * 1000);
  });

  it('takes valid values, trimming a trailing slash from the base URL', () => {
    const { config, problems } = from({
      baseUrl: 'http://127.0.0.1:8080/v1/',
      'limits.requestsPerMinute': 3,
      'limits.concurrency': 1,
      'limits.tokensPerDay': 1_500_000,
      'queue.maxWaitSeconds': 60,
    });
    assert.deepEqual(problems, []);
    assert.equal(config.baseUrl, 'http://127.0.0.1:8080/v1');
    assert.equal(config.limits.requestsPerMinute, 3);
    assert.equal(config.limits.tokensPerDay, 1_500_000);
    assert.equal(config.queue.maxWaitMs, 60_000);
  });

  for (const [key, value] of [
    ['limits.requestsPerMinute', -5],
    ['limits.requestsPerMinute', 0],
    ['limits.tokensPerMinute', 1.5],
    ['limits.tokensPerMinute', '150000'],
    ['limits.concurrency', -1],
    ['maxOutputTokens', 0],
    ['queue.maxLength', 5000],
  ] as const) {
    it(`replaces ${key} = ${JSON.stringify(value)} by the default and names the key, the value and the rule`, () => {
      const { config, problems } = from({ [key]: value });
      assert.equal(problems.length, 1);
      assert.ok(problems[0].startsWith(`kimiBudget.${key} is ${JSON.stringify(value)}, but it must be a whole number`), problems[0]);
      assert.deepEqual(config, from({}).config);
    });
  }

  it('says, as data, which key, which value, what was expected and what is used instead', () => {
    assert.deepEqual(from({ 'queue.maxLength': 5000, temperature: 3 }).found, [
      { key: 'temperature', value: 3, expected: { kind: 'number', min: 0, max: 2 } },
      { key: 'queue.maxLength', value: 5000, expected: { kind: 'integer', min: 1, max: 1000 }, fallback: DEFAULTS.maxLength },
    ]);
  });

  it("takes a team's Redis URL, and refuses one with a password in it, pointing to the command that keeps it secret", () => {
    assert.deepEqual(from({}).config.team, { redisUrl: '', budgetName: '' }, 'off by default');
    const ok = from({ 'team.redisUrl': ' rediss://kimi@redis.example.com:6380/2 ', 'team.budgetName': 'acme' });
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.config.team, { redisUrl: 'rediss://kimi@redis.example.com:6380/2', budgetName: 'acme' });
    const secret = from({ 'team.redisUrl': 'redis://kimi:hunter2@redis.example.com:6379' });
    assert.equal(secret.config.team.redisUrl, '', 'the team budget stays off');
    assert.equal(secret.found[0].expected.kind, 'redisPassword');
    assert.match(secret.problems[0], /has a password in it.*Kimi: Set Team Redis Password/);
    for (const bad of ['http://redis.example.com', 'redis.example.com:6379', 'redis://'])
      assert.equal(from({ 'team.redisUrl': bad }).found[0]?.expected.kind, 'redisUrl', bad);
  });

  it('rejects a base URL that is not one, and an empty model', () => {
    const { config, problems } = from({ baseUrl: 'api.moonshot.ai', model: '  ' });
    assert.equal(config.baseUrl, DEFAULTS.baseUrl);
    assert.equal(config.model, DEFAULTS.model);
    assert.match(problems[0], /kimiBudget.baseUrl is "api.moonshot.ai", but it is not a URL/);
    assert.match(problems[1], /kimiBudget.model .* must not be empty/);
  });

  it('leaves the sampling parameters unset unless set, and refuses out-of-range ones', () => {
    const unset = from({}).config;
    assert.equal(unset.temperature, undefined);
    assert.equal(unset.topP, undefined);
    assert.equal(unset.systemPrompt, '');
    const set = from({ temperature: 0.3, topP: 0.9, systemPrompt: '  You review TypeScript.  ' });
    assert.deepEqual([set.config.temperature, set.config.topP, set.config.systemPrompt], [0.3, 0.9, 'You review TypeScript.']);
    const bad = from({ temperature: 3, topP: 'high', systemPrompt: 42 });
    assert.equal(bad.config.temperature, undefined);
    assert.equal(bad.config.topP, undefined);
    assert.equal(bad.config.systemPrompt, '');
    assert.match(bad.problems.join('\n'), /kimiBudget\.temperature is 3, but it must be a number from 0 to 2, or unset/);
    assert.match(bad.problems.join('\n'), /kimiBudget\.topP is "high"/);
    assert.match(bad.problems.join('\n'), /kimiBudget\.systemPrompt is 42, but it must be a string/);
  });

  it('refuses http:// to another machine unless allowed, and takes it on loopback', () => {
    for (const url of ['http://127.0.0.1:8080/v1', 'http://localhost:3000/v1', 'http://[::1]:9/v1', 'http://127.5.6.7/v1']) {
      assert.deepEqual(from({ baseUrl: url }).problems, [], url);
    }
    const remote = from({ baseUrl: 'http://api.example.com/v1' });
    assert.equal(remote.config.baseUrl, DEFAULTS.baseUrl);
    assert.match(
      remote.problems[0],
      /kimiBudget\.baseUrl is "http:\/\/api\.example\.com\/v1", but it would send your API key unencrypted.*kimiBudget\.allowInsecureHttp/,
    );
    assert.equal(from({ baseUrl: 'http://10.0.0.5/v1', allowInsecureHttp: true }).config.baseUrl, 'http://10.0.0.5/v1');
    assert.match(from({ baseUrl: 'ftp://x/v1' }).problems[0], /must start with https:\/\//);
  });

  it('keeps valid price overrides and reports broken ones', () => {
    const { config, problems } = from({ prices: { 'kimi-k2.6': { input: 1, output: 5 }, bad: { input: 'x' } } });
    assert.deepEqual(config.prices, { 'kimi-k2.6': { input: 1, output: 5, cachedInput: 1 } });
    assert.match(problems[0], /kimiBudget.prices\["bad"\]/);
  });
});

describe('cost', () => {
  it('prices a send at most as prompt at the input price plus max_tokens at the output price', () => {
    const price = priceOf('kimi-k3', {})!;
    assert.equal(maxCost(price, 1_000_000, 1_000_000), 3.0 + 15.0);
    assert.deepEqual(priceOf('kimi-k2.6', {}), { input: 0.95, cachedInput: 0.16, output: 4.0 });
    assert.equal(priceOf('kimi-k2.5', {}), undefined, 'a retired model has no built-in price');
    assert.equal(priceOf('kimi-k2.5', { 'kimi-k2.5': { input: 1, cachedInput: 1, output: 1 } })!.output, 1);
    assert.equal(priceOf('unknown-model', {}), undefined);
  });

  it('prices an answer from its usage, cached prompt tokens at the cache-hit price', () => {
    const price = { input: 1, cachedInput: 0.1, output: 4 };
    assert.equal(actualCost(price, { promptTokens: 1_000_000, cachedTokens: 500_000, completionTokens: 250_000 }), 0.5 + 0.05 + 1);
    assert.equal(formatUsd(0.00123), '$0.0012');
    assert.equal(formatUsd(1.5), '$1.50');
  });
});
