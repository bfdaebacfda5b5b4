/**
 * Tool calls as Kimi sends them: OpenAI `tool_calls` deltas, split anywhere, assembled by index and
 * handed on once their arguments parse; or, from some deployments, Kimi K2's own inline markup in the
 * answer's text (`<|tool_call_begin|>functions.name:0<|tool_call_argument_begin|>{…}<|tool_call_end|>`),
 * parsed out of the text rather than shown.
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

/**
 * Splits an answer's text, as it streams, into the text to show and Kimi's inline tool calls. Text
 * that may be the start of a marker is held back until the next piece tells.
 */
export class InlineToolCallParser {
  private pending = '';
  private inSection = false;
  private calls = 0;

  push(text: string): { text: string; calls: ToolCall[] } {
    this.pending += text;
    return this.drain(false);
  }

  /** The answer ended: what was held back is text, and a call left open is read as it stands. */
  end(): { text: string; calls: ToolCall[] } {
    return this.drain(true);
  }

  private drain(ended: boolean): { text: string; calls: ToolCall[] } {
    let shown = '';
    const calls: ToolCall[] = [];
    for (;;) {
      if (!this.inSection) {
        const opener = earliest(this.pending, OPENERS);
        if (!opener) {
          const keep = ended ? 0 : heldBack(this.pending, OPENERS);
          shown += this.pending.slice(0, this.pending.length - keep);
          this.pending = this.pending.slice(this.pending.length - keep);
          break;
        }
        shown += this.pending.slice(0, opener.at);
        // A section's opener is consumed; a bare call's opener stays, for the call to be read from it.
        this.pending = this.pending.slice(opener.marker === CALL_BEGIN ? opener.at : opener.at + opener.marker.length);
        this.inSection = true;
        continue;
      }
      const end = earliest(this.pending, [CALL_END, ...SECTION_END]);
      if (!end) {
        if (ended) {
          const call = this.read(this.pending);
          if (call) calls.push(call);
          this.pending = '';
          this.inSection = false;
        }
        break;
      }
      if (end.marker === CALL_END) {
        const call = this.read(this.pending.slice(0, end.at));
        if (call) calls.push(call);
      } else {
        this.inSection = false;
      }
      this.pending = this.pending.slice(end.at + end.marker.length);
    }
    return { text: shown, calls };
  }

  /** One call's markup, `<|tool_call_begin|>functions.NAME:N<|tool_call_argument_begin|>{…}`. */
  private read(markup: string): ToolCall | undefined {
    const begin = markup.indexOf(CALL_BEGIN);
    if (begin < 0) return undefined; // only whitespace between calls
    const body = markup.slice(begin + CALL_BEGIN.length);
    const split = body.indexOf(ARGUMENT_BEGIN);
    const header = (split < 0 ? body : body.slice(0, split)).trim();
    const args = split < 0 ? '' : body.slice(split + ARGUMENT_BEGIN.length).trim();
    const name = header.replace(/^functions\./, '').replace(/:\d+$/, '');
    const input = args === '' ? {} : parseArguments(args);
    if (!name || !input) {
      throw new KimiError({
        kind: 'server',
        message: `Moonshot's answer held a tool call in Kimi's inline markup that could not be read (${header || 'no name'}): "${args.slice(0, 120)}".`,
      });
    }
    this.calls++;
    return { id: header || `call_inline_${this.calls}`, name, input };
  }
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
