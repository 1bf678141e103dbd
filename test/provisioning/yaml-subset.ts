// The YAML that provisioning/openapi.yaml is written in, read into plain values for its test:
// block mappings and sequences by indentation, one-line flow collections ({ a: b }, [a, b]),
// quoted and plain scalars, folded scalars (>, >-). Anything else is refused, so the document
// cannot drift into a form this reader would misread.

interface Line {
  readonly no: number;
  readonly indent: number;
  readonly text: string;
}

export function parseYamlSubset(source: string): unknown {
  const lines: Line[] = [];
  source.split('\n').forEach((raw, i) => {
    const indent = raw.search(/\S/);
    if (indent >= 0 && !raw.trimStart().startsWith('#')) lines.push({ no: i + 1, indent, text: raw.trim() });
  });
  let at = 0;
  const fail = (line: Line | undefined, why: string): never => {
    throw new Error(`openapi.yaml line ${line?.no ?? 'end'}: ${why}`);
  };

  function block(indent: number): unknown {
    return lines[at]!.text.startsWith('- ') ? sequence(indent) : mapping(indent);
  }

  function sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    while (at < lines.length && lines[at]!.indent === indent && lines[at]!.text.startsWith('- ')) {
      const line = lines[at++]!;
      out.push(inline(line.text.slice(2).trim(), line));
    }
    return out;
  }

  function mapping(indent: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    while (at < lines.length && lines[at]!.indent === indent) {
      const line = lines[at++]!;
      const { key, rest } = splitKey(line.text, line);
      if (Object.hasOwn(out, key)) fail(line, `key ${key} twice`);
      out[key] = value(rest, indent, line);
    }
    if (at < lines.length && lines[at]!.indent > indent) fail(lines[at], 'unexpected indentation');
    return out;
  }

  function value(rest: string, indent: number, line: Line): unknown {
    if (rest === '') return at < lines.length && lines[at]!.indent > indent ? block(lines[at]!.indent) : null;
    if (rest === '>' || rest === '>-') {
      const parts: string[] = [];
      while (at < lines.length && lines[at]!.indent > indent) parts.push(lines[at++]!.text);
      return parts.join(' ');
    }
    return inline(rest, line);
  }

  function splitKey(text: string, line: Line): { key: string; rest: string } {
    const quoted = /^'((?:[^']|'')*)'\s*:(?:\s+|$)/.exec(text);
    if (quoted) return { key: quoted[1]!.replace(/''/g, "'"), rest: text.slice(quoted[0].length).trim() };
    const m = /^([^'"{[\s][^:]*?):(?:\s+|$)/.exec(text);
    if (!m) return fail(line, 'expected "key: value"');
    return { key: m[1]!, rest: text.slice(m[0].length).trim() };
  }

  function inline(text: string, line: Line): unknown {
    if (text.startsWith('{') || text.startsWith('[')) {
      const r = flow(text, 0, line);
      if (text.slice(r.end).trim() !== '') fail(line, 'text after a flow collection');
      return r.value;
    }
    if (text.startsWith("'") || text.startsWith('"')) {
      const r = quotedScalar(text, 0, line);
      if (text.slice(r.end).trim() !== '') fail(line, 'text after a quoted scalar');
      return r.value;
    }
    return plain(text);
  }

  function flow(s: string, i: number, line: Line): { value: unknown; end: number } {
    const skip = (j: number): number => {
      while (s[j] === ' ') j++;
      return j;
    };
    if (s[i] === '{' || s[i] === '[') {
      const isMap = s[i] === '{';
      const close = isMap ? '}' : ']';
      const out: Record<string, unknown> | unknown[] = isMap ? {} : [];
      let j = skip(i + 1);
      while (s[j] !== close) {
        if (j >= s.length) fail(line, `unclosed ${s[i]}`);
        if (isMap) {
          let key: string;
          if (s[j] === "'" || s[j] === '"') {
            const q = quotedScalar(s, j, line);
            key = q.value;
            j = skip(q.end);
          } else {
            const m = /^[^:,{}[\]]+/.exec(s.slice(j));
            if (!m) return fail(line, 'expected a key');
            key = m[0].trim();
            j += m[0].length;
          }
          if (s[j] !== ':') fail(line, `expected ":" after ${key}`);
          const v = flow(s, skip(j + 1), line);
          (out as Record<string, unknown>)[key] = v.value;
          j = skip(v.end);
        } else {
          const v = flow(s, j, line);
          (out as unknown[]).push(v.value);
          j = skip(v.end);
        }
        if (s[j] === ',') j = skip(j + 1);
        else if (j >= s.length) fail(line, `unclosed ${s[i]}`);
        else if (s[j] !== close) fail(line, `expected "," or "${close}"`);
      }
      return { value: out, end: j + 1 };
    }
    if (s[i] === "'" || s[i] === '"') return quotedScalar(s, i, line);
    const m = /^[^,{}[\]]*/.exec(s.slice(i))!;
    return { value: plain(m[0].trim()), end: i + m[0].length };
  }

  function quotedScalar(s: string, i: number, line: Line): { value: string; end: number } {
    const q = s[i]!;
    let out = '';
    for (let j = i + 1; j < s.length; j++) {
      if (s[j] !== q) out += s[j];
      else if (q === "'" && s[j + 1] === "'") {
        out += "'";
        j++;
      } else return { value: out, end: j + 1 };
    }
    return fail(line, 'unclosed quote');
  }

  const doc = at < lines.length ? block(lines[at]!.indent) : null;
  if (at < lines.length) fail(lines[at], 'unexpected text');
  return doc;
}

function plain(text: string): unknown {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null' || text === '~' || text === '') return null;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}
