/**
 * Tool calls as Kimi sends them: OpenAI `tool_calls` deltas, split anywhere, assembled by index and
 * handed on once their arguments parse; or, from some deployments, Kimi K2's own inline markup in the
 * answer's text (`<|tool_call_begin|>functions.name:0<|tool_call_argument_begin|>{…}<|tool_call_end|>`),
 * taken out of the text only where Kimi writes it and only for the tools the request offered.
 */
import { isObject } from './json';
import { KimiError } from './kimiError';
import type { ToolCall } from './types';

/** One `tool_calls` entry of a stream delta, as much of it as came in this chunk. */
export interface ToolCallDelta {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

interface Partial {
  id: string;
  name: string;
  args: string;
  done: boolean;
}

/** Assembles tool calls from their deltas; each is reported once, as soon as its arguments are a whole JSON object. */
export class ToolCallAssembler {
  private readonly calls = new Map<number, Partial>();

  /** Adds one chunk's deltas; returns the calls that became complete. */
  push(deltas: readonly unknown[]): ToolCall[] {
    const completed: ToolCall[] = [];
    for (const raw of deltas) {
      if (!isObject(raw)) continue;
      const delta = raw as ToolCallDelta;
      const index = typeof delta.index === 'number' ? delta.index : this.calls.size;
      let call = this.calls.get(index);
      if (!call) {
        call = { id: '', name: '', args: '', done: false };
        this.calls.set(index, call);
      }
      if (typeof delta.id === 'string' && delta.id) call.id = delta.id;
      const fn = isObject(delta.function) ? delta.function : {};
      if (typeof fn.name === 'string') call.name += fn.name;
      if (typeof fn.arguments === 'string') call.args += fn.arguments;
      if (call.done || !call.name) continue;
      const input = parseArguments(call.args);
      if (input) {
        call.done = true;
        completed.push(finished(call, index, input));
      }
    }
    return completed;
  }

  /** The stream ended: calls still open are complete if their arguments are empty, else malformed. */
  end(): ToolCall[] {
    const completed: ToolCall[] = [];
    for (const [index, call] of this.calls) {
      if (call.done) continue;
      call.done = true;
      const input = call.args.trim() === '' ? {} : parseArguments(call.args);
      if (!call.name || !input) {
        throw new KimiError({
          kind: 'server',
          message: `Moonshot's answer ended with an unfinished tool call (${call.name || 'no name'}): its arguments are not a JSON object: "${call.args.slice(0, 120)}".`,
        });
      }
      completed.push(finished(call, index, input));
    }
    return completed;
  }
}

function finished(call: Partial, index: number, input: Record<string, unknown>): ToolCall {
  return { id: call.id || `call_${index}`, name: call.name, input };
}

/** The arguments as an object, or undefined while they are not a whole JSON object yet. */
function parseArguments(text: string): Record<string, unknown> | undefined {
  if (!text.trim().endsWith('}')) return undefined; // cheap: most deltas leave the object open
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

const SECTION_BEGIN = ['<|tool_calls_section_begin|>', '<|tool_call_section_begin|>'];
const SECTION_END = ['<|tool_calls_section_end|>', '<|tool_call_section_end|>'];
const CALL_BEGIN = '<|tool_call_begin|>';
const ARGUMENT_BEGIN = '<|tool_call_argument_begin|>';
const CALL_END = '<|tool_call_end|>';
/** Where text starts to be markup: a section, or a call without one. */
const OPENERS = [...SECTION_BEGIN, CALL_BEGIN];
/** What may stand between calls: the markers that are not inside a call. */
const BETWEEN = [...SECTION_BEGIN, ...SECTION_END, CALL_BEGIN];
/** A call's header as Kimi writes it: `functions.NAME:INDEX`. */
const HEADER = /^functions\.([^\s:<>|]{1,256}):(\d{1,6})$/;

/**
 * Splits an answer's text, as it streams, into the text to show and Kimi's inline tool calls.
 *
 * Kimi writes its calls last, after all of its text. So markup is read as calls only when nothing but
 * more markup and white space follows it to the end of the answer, when every call in it names a tool
 * the request offered, and when each one's arguments are a JSON object. Anything else (markup quoted
 * from a README or a web page, with text after it; a tool nobody offered; markup that does not read)
 * is the answer's text, shown as it came. A request that offered no tools gets no parsing at all.
 *
 * From the first marker on, the text is held back until it is known which it is: text after the
 * markup shows it all at once; the end of the answer makes it calls, or text.
 */
export class InlineToolCallParser {
  private pending = '';
  /** `pending` begins with markup (a section or a call) not yet known to be calls or text. */
  private inMarkup = false;
  /** How far that markup has been read. */
  private readonly scan = { at: 0, searched: 0 };
  /** The markup ends inside a call: the pieces since, and the last characters, where its end may begin. */
  private inCall = false;
  private parts: string[] = [];
  private tail = '';

  /** `offered`: the names of the tools the request offered. */
  constructor(private readonly offered: ReadonlySet<string> = new Set()) {}

  push(text: string): { text: string; calls: ToolCall[] } {
    if (!this.offered.size) return { text, calls: [] };
    if (this.inCall) {
      // Inside a call only its end matters: a piece without it is kept aside, not added to `pending`
      // (each addition to a long string copies it when it is next searched).
      const probe = this.tail + text;
      if (!probe.includes(CALL_END)) {
        this.parts.push(text);
        this.tail = probe.slice(-(CALL_END.length - 1));
        return { text: '', calls: [] };
      }
      this.gather();
    }
    this.pending += text;
    return { text: this.drain(false), calls: [] };
  }

  /** The pieces kept aside, back into `pending`. */
  private gather(): void {
    this.pending += this.parts.join('');
    this.parts = [];
    this.inCall = false;
  }

  /** The answer ended: markup at its end is calls if it reads as calls of offered tools; the rest is text. */
  end(): { text: string; calls: ToolCall[] } {
    if (!this.offered.size) return { text: '', calls: [] };
    this.gather();
    const shown = this.drain(true);
    const markup = this.pending;
    this.pending = '';
    if (!this.inMarkup) return { text: shown + markup, calls: [] };
    this.inMarkup = false;
    const calls = this.read(markup);
    return calls ? { text: shown, calls } : { text: shown + markup, calls: [] };
  }

  /** The text known to be text by now; `pending` keeps the rest. */
  private drain(ended: boolean): string {
    let shown = '';
    for (;;) {
      if (!this.inMarkup) {
        const opener = earliest(this.pending, OPENERS);
        if (!opener) {
          const keep = ended ? 0 : heldBack(this.pending, OPENERS);
          shown += this.pending.slice(0, this.pending.length - keep);
          this.pending = this.pending.slice(this.pending.length - keep);
          return shown;
        }
        shown += this.pending.slice(0, opener.at);
        this.pending = this.pending.slice(opener.at);
        this.inMarkup = true;
        this.scan.at = this.scan.searched = 0;
      }
      const quoted = textAfterMarkup(this.pending, this.scan);
      if (quoted === 'inCall') {
        this.inCall = !ended;
        this.tail = this.pending.slice(-(CALL_END.length - 1));
        return shown;
      }
      if (quoted === undefined) return shown; // still markup, so far
      // Text follows the markup: it was quoted, not called. All of it is text, and reading goes on after it.
      shown += this.pending.slice(0, quoted);
      this.pending = this.pending.slice(quoted);
      this.inMarkup = false;
    }
  }

  /** The calls of markup that ends the answer, or undefined if any of it does not read as a call of an offered tool. */
  private read(markup: string): ToolCall[] | undefined {
    const calls: ToolCall[] = [];
    let rest = markup;
    for (;;) {
      const begin = rest.indexOf(CALL_BEGIN);
      if (!onlyBetween(begin < 0 ? rest : rest.slice(0, begin))) return undefined;
      if (begin < 0) return calls.length ? calls : undefined;
      const body = rest.slice(begin + CALL_BEGIN.length);
      const close = body.indexOf(CALL_END);
      const call = this.readCall(close < 0 ? body : body.slice(0, close)); // a call left open at the end reads as it stands
      if (!call) return undefined;
      calls.push(call);
      if (close < 0) return calls;
      rest = body.slice(close + CALL_END.length);
    }
  }

  /** One call, `functions.NAME:N<|tool_call_argument_begin|>{…}`. */
  private readCall(markup: string): ToolCall | undefined {
    const split = markup.indexOf(ARGUMENT_BEGIN);
    const header = (split < 0 ? markup : markup.slice(0, split)).trim();
    const name = HEADER.exec(header)?.[1];
    if (!name || !this.offered.has(name)) return undefined;
    const args = split < 0 ? '' : markup.slice(split + ARGUMENT_BEGIN.length).trim();
    const input = args === '' ? {} : parseArguments(args);
    return input && { id: header, name, input };
  }
}

/**
 * Where text that is neither markup nor white space begins after the markup that `text` starts with,
 * or undefined while there is none (or it may still be a marker); 'inCall' when it ends inside a call,
 * whose arguments may hold anything.
 * `scan` says where the previous look stopped, so that a long call streaming in small pieces is read
 * once, not once a piece; it is moved on.
 */
function textAfterMarkup(text: string, scan: { at: number; searched: number }): number | 'inCall' | undefined {
  for (;;) {
    const { at } = scan;
    if (text.startsWith(CALL_BEGIN, at)) {
      const close = text.indexOf(CALL_END, Math.max(at, scan.searched));
      if (close < 0) {
        scan.searched = Math.max(at, text.length - CALL_END.length + 1);
        return 'inCall'; // its arguments may hold anything
      }
      scan.at = close + CALL_END.length;
      continue;
    }
    const marker = BETWEEN.find((m) => text.startsWith(m, at));
    if (marker) {
      scan.at += marker.length;
      continue;
    }
    let next = at;
    while (next < text.length && /\s/.test(text[next])) next++;
    if (next >= text.length) return undefined;
    if (BETWEEN.some((m) => text.startsWith(m, next))) {
      scan.at = next;
      continue;
    }
    const tail = text.slice(next);
    if (BETWEEN.some((m) => m.startsWith(tail))) return undefined; // the start of a marker, cut by the piece
    return next;
  }
}

/** Whether `gap` (between calls) holds only section markers and white space. */
function onlyBetween(gap: string): boolean {
  return [...SECTION_BEGIN, ...SECTION_END].reduce((rest, marker) => rest.split(marker).join(''), gap).trim() === '';
}

function earliest(text: string, markers: readonly string[]): { at: number; marker: string } | undefined {
  let best: { at: number; marker: string } | undefined;
  for (const marker of markers) {
    const at = text.indexOf(marker);
    if (at >= 0 && (!best || at < best.at)) best = { at, marker };
  }
  return best;
}

/** How many characters at the end of `text` could begin one of the markers. */
function heldBack(text: string, markers: readonly string[]): number {
  const from = text.lastIndexOf('<');
  if (from < 0) return 0;
  const tail = text.slice(from);
  return markers.some((m) => m.startsWith(tail)) ? tail.length : 0;
}
