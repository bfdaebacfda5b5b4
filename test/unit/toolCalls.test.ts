// Kimi's tool calls as they arrive: OpenAI deltas split anywhere, and Kimi K2's inline markup in the
// text. Each call is handed on once, when its arguments parse; the markup never reaches the text.
import * as assert from 'node:assert/strict';
import { KimiError } from '../../src/kimi';
import { InlineToolCallParser, ToolCallAssembler } from '../../src/kimi/toolCalls';

describe('ToolCallAssembler', () => {
  it('assembles a call from split deltas and reports it once, when its arguments are a whole JSON object', () => {
    const assembler = new ToolCallAssembler();
    assert.deepEqual(assembler.push([{ index: 0, id: 'functions.get_weather:0', function: { name: 'get_weather', arguments: '' } }]), []);
    assert.deepEqual(assembler.push([{ index: 0, function: { arguments: '{"city": "Bei' } }]), []);
    assert.deepEqual(assembler.push([{ index: 0, function: { arguments: 'jing", "days": 2' } }]), []);
    const done = assembler.push([{ index: 0, function: { arguments: '}' } }]);
    assert.deepEqual(done, [{ id: 'functions.get_weather:0', name: 'get_weather', input: { city: 'Beijing', days: 2 } }]);
    assert.deepEqual(assembler.push([{ index: 0, function: { arguments: '' } }]), [], 'not reported twice');
    assert.deepEqual(assembler.end(), []);
  });

  it('keeps interleaved calls apart by index, and gives a call without an id one', () => {
    const assembler = new ToolCallAssembler();
    assembler.push([
      { index: 0, function: { name: 'read', arguments: '{"path":' } },
      { index: 1, id: 'b', function: { name: 'list', arguments: '{"dir":"sr' } },
    ]);
    const done = assembler.push([
      { index: 1, function: { arguments: 'c"}' } },
      { index: 0, function: { arguments: '"a.ts"}' } },
    ]);
    assert.deepEqual(done, [
      { id: 'b', name: 'list', input: { dir: 'src' } },
      { id: 'call_0', name: 'read', input: { path: 'a.ts' } },
    ]);
  });

  it('at the end, a call with no arguments is a call with an empty input; unparseable arguments fail as a server error', () => {
    const empty = new ToolCallAssembler();
    empty.push([{ index: 0, id: 'x', function: { name: 'now' } }]);
    assert.deepEqual(empty.end(), [{ id: 'x', name: 'now', input: {} }]);

    const broken = new ToolCallAssembler();
    broken.push([{ index: 0, id: 'y', function: { name: 'read', arguments: '{"path": "a' } }]);
    assert.throws(
      () => broken.end(),
      (e: KimiError) => e.kind === 'server' && e.message.includes('read'),
    );
  });
});

describe('InlineToolCallParser', () => {
  const markup =
    'Let me check.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city":"Paris"}<|tool_call_end|>' +
    '<|tool_call_begin|>functions.get_time:1<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_calls_section_end|>';
  const calls = [
    { id: 'functions.get_weather:0', name: 'get_weather', input: { city: 'Paris' } },
    { id: 'functions.get_time:1', name: 'get_time', input: {} },
  ];

  /** Feeds `text` in pieces of `size` characters; returns the text shown and the calls. */
  function feed(text: string, size: number) {
    const parser = new InlineToolCallParser();
    let shown = '';
    const found = [];
    for (let i = 0; i < text.length; i += size) {
      const out = parser.push(text.slice(i, i + size));
      shown += out.text;
      found.push(...out.calls);
    }
    const rest = parser.end();
    return { shown: shown + rest.text, calls: [...found, ...rest.calls] };
  }

  for (const size of [1, 5, 9, 1000]) {
    it(`takes the calls out of the text, whatever the piece size (${size})`, () => {
      assert.deepEqual(feed(markup, size), { shown: 'Let me check.', calls });
    });
  }

  it('holds back only what may begin a marker, and shows it once the next piece says it is text', () => {
    const parser = new InlineToolCallParser();
    assert.deepEqual(parser.push('a < b and <|tool'), { text: 'a < b and ', calls: [] });
    assert.deepEqual(parser.push('box|> done'), { text: '<|toolbox|> done', calls: [] });
    assert.deepEqual(parser.end(), { text: '', calls: [] });
  });

  it('reads a call left open at the end of the answer; text around a section is kept', () => {
    const parser = new InlineToolCallParser();
    const out = parser.push('Before <|tool_call_section_begin|><|tool_call_begin|>functions.run:0<|tool_call_argument_begin|>{"x":1}');
    assert.deepEqual(out, { text: 'Before ', calls: [] });
    assert.deepEqual(parser.end(), { text: '', calls: [{ id: 'functions.run:0', name: 'run', input: { x: 1 } }] });
  });

  it('arguments that are not a JSON object fail as a server error, not as text', () => {
    const parser = new InlineToolCallParser();
    assert.throws(
      () => parser.push('<|tool_call_begin|>functions.run:0<|tool_call_argument_begin|>{"x":<|tool_call_end|>'),
      (e: KimiError) => e.kind === 'server',
    );
  });
});
