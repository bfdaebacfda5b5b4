// What is shown to the user from outside (servers, files, settings) cannot act: no command links,
// no control characters, bounded notifications.
import * as assert from 'node:assert/strict';
import { inertMarkdown, inertText, MAX_NOTIFICATION_CHARS } from '../../src/ui/inert';

/** VS Code's own notification link syntax (src/vs/base/common/linkedText.ts). */
const NOTIFICATION_LINK = /\[([^\]]+)\]\(((?:https?:\/\/|command:|file:)[^)\s]+)(?: (["'])(.+?)(\3))?\)/gi;

describe('inert text', () => {
  it('a notification keeps the words of a link but not the link', () => {
    const hostile = 'Invalid request: [Verify key](command:workbench.action.terminal.sendSequence?%7B%7D) and [docs]( https://x.example)';
    assert.match(hostile, NOTIFICATION_LINK);
    const shown = inertText(hostile);
    assert.doesNotMatch(shown, NOTIFICATION_LINK);
    assert.equal(shown.replace(/\u200b/g, ''), hostile);
  });

  it('a notification loses control characters and bidirectional overrides, and is cut to its maximum', () => {
    assert.equal(inertText('a\u0000b\u001bc\u202ed\ne\tf'), 'a b c d\ne\tf');
    const long = inertText('x'.repeat(10 * MAX_NOTIFICATION_CHARS));
    assert.equal(long.length, MAX_NOTIFICATION_CHARS);
    assert.ok(long.endsWith('…'));
  });

  it('Markdown keeps no command: link in any form or case, and reads the same', () => {
    const hostile = '[a](command:x) <command:y> [r]: command:z [b](COMMAND:w)';
    const shown = inertMarkdown(hostile);
    assert.doesNotMatch(shown, /command:/i);
    assert.equal(shown.replace(/\u200b/g, ''), hostile);
  });
});
