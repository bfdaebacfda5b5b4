// Text from outside — a server's error, a model's answer, a setting's value, a selection from a
// file — is shown to the user in places that can act on it: a notification turns
// `[label](command:…)` into a link that runs a command, and a Markdown editor follows `command:`
// links on Ctrl+click. Everything shown passes through here first.

/** C0 and C1 controls but tab and line breaks, and the bidirectional overrides that can disguise text. */
// eslint-disable-next-line no-control-regex -- matching control characters is what this pattern is for
const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** Notifications show at most this many characters of one message. */
export const MAX_NOTIFICATION_CHARS = 2_000;

/**
 * A notification's text with no link VS Code would make of it (the `](` of `[label](target)` is
 * split by a zero-width space), no control characters, and a bounded length.
 */
export function inertText(text: string, max = MAX_NOTIFICATION_CHARS): string {
  const plain = text.replace(CONTROLS, ' ').replace(/\]\s*\(/g, ']\u200b(');
  return plain.length > max ? `${plain.slice(0, max - 1)}…` : plain;
}

/**
 * Markdown shown in an editor with no `command:` link to follow, in any form (inline, autolink,
 * reference definition, any case): a zero-width space splits the scheme, which stays readable.
 */
export function inertMarkdown(text: string): string {
  return text.replace(CONTROLS, ' ').replace(/(command)(:)/gi, '$1\u200b$2');
}
