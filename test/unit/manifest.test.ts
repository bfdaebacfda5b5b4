// The settings as package.json declares them (what VS Code shows and enforces) against the code
// that reads them: the same defaults, and scopes that keep a folder from redirecting the key.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../../src/core/config';
import { LIMIT_NAMES } from '../../src/core/limits';
import { LIMITS } from '../../src/ui/words';

interface Declared {
  readonly default: unknown;
  readonly scope?: string;
}

const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8'));
const declared: Record<string, Declared> = manifest.contributes.configuration.properties;
const key = (name: string) => name.slice('kimiBudget.'.length);

/** Where a folder's settings could send prompts (and the key), or what the account allows and costs. */
const USER_ONLY = [
  'baseUrl',
  'allowInsecureHttp',
  ...LIMIT_NAMES.map((limit) => key(LIMITS[limit].setting)),
  'limits.tier',
  'prices',
  'team.redisUrl',
  'team.budgetName',
];
/** A project may choose these; an untrusted folder may not choose what steers or costs the prompt. */
const RESTRICTED_WHEN_UNTRUSTED = ['systemPrompt', 'model', 'maxOutputTokens'];

describe('the settings package.json declares', () => {
  it('every default equals the one the code uses when the setting is unset', () => {
    const defaults = parseConfig(() => undefined).config;
    // Reading every declared default back through parseConfig must change nothing…
    const read = new Set<string>();
    const fromManifest = parseConfig((k) => (read.add(k), declared[`kimiBudget.${k}`]?.default));
    assert.deepEqual(fromManifest.problems, []);
    assert.deepEqual(fromManifest.config, defaults);
    // …and each declared key is one the code reads: a typo in either place would leave it unread.
    assert.deepEqual(Object.keys(declared).map(key).sort(), [...read].sort());
  });

  it("keeps where prompts go, the limits and the prices out of any folder's settings (machine scope)", () => {
    for (const name of USER_ONLY) assert.equal(declared[`kimiBudget.${name}`]?.scope, 'machine', `kimiBudget.${name}`);
    const others = Object.keys(declared)
      .map(key)
      .filter((k) => !USER_ONLY.includes(k));
    for (const name of others) assert.equal(declared[`kimiBudget.${name}`].scope, 'window', `kimiBudget.${name} is a project's to choose`);
  });

  it('does not take the system prompt, the model or the output limit from an untrusted folder', () => {
    const untrusted = manifest.capabilities?.untrustedWorkspaces;
    assert.equal(untrusted?.supported, 'limited');
    assert.deepEqual([...untrusted.restrictedConfigurations].sort(), RESTRICTED_WHEN_UNTRUSTED.map((k) => `kimiBudget.${k}`).sort());
  });
});

describe('the chat parts package.json declares', () => {
  it('a language model provider, vendor kimi, whose management command is the set-key command the extension declares', () => {
    const [provider, ...more] = manifest.contributes.languageModelChatProviders;
    assert.equal(more.length, 0);
    assert.equal(provider.vendor, 'kimi');
    assert.equal(provider.managementCommand, 'kimiBudget.setApiKey');
    assert.ok(manifest.contributes.commands.some((c: { command: string }) => c.command === provider.managementCommand));
  });

  it('@kimi with /count, shown only where the extension says the chat parts run', () => {
    const [participant] = manifest.contributes.chatParticipants;
    assert.equal(participant.name, 'kimi');
    assert.match(participant.name, /^[\w-]+$/);
    assert.deepEqual(
      participant.commands.map((c: { name: string }) => c.name),
      ['count'],
    );
    const source = fs.readFileSync(path.resolve(__dirname, '../../../src/extension.ts'), 'utf8');
    assert.ok(source.includes(`'setContext', '${participant.when}', true`), `src/extension.ts sets ${participant.when}`);
  });
});
