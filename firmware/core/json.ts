// The one reader of JSON from outside (network messages, HTTP bodies, config files): a reader
// checks a parsed value and returns it typed, or throws a JsonError that names the field path it
// refuses ("seal.signature: expected hex of 64..512 bytes"). Callers never cast after a read.
// Sizes are capped before JSON.parse (parseJson); objects are exact by default (unknown keys
// refused); hex is read in either case unless a reader asks for lowercase, and comes back as
// bytes or as lowercase text.

export type JsonErrorCode = 'ERR_JSON_INVALID' | 'ERR_JSON_OVERSIZE' | 'ERR_JSON_SYNTAX';

export class JsonError extends Error {
  override readonly name = 'JsonError';
  constructor(readonly code: JsonErrorCode, readonly path: string, readonly expected: string) {
    super(path === '' ? expected : `${path}: ${expected}`);
  }

  toObject(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, path: this.path };
  }
}

/** Reads one value at `path`; throws JsonError on anything else. */
export interface Reader<T> {
  read(value: unknown, path: string): T;
  /** What it expects, for error messages and documents ("integer in 0..10"). */
  readonly expects: string;
}

/** A field that may be absent (absent and undefined read as undefined and are left out). */
export interface OptionalReader<T> extends Reader<T | undefined> {
  readonly optional: true;
  readonly inner: Reader<T>;
}

export type Infer<R> = R extends Reader<infer T> ? T : never;

type Fields = Readonly<Record<string, Reader<unknown>>>;
type RequiredKeys<F extends Fields> = { [K in keyof F]: F[K] extends OptionalReader<unknown> ? never : K }[keyof F];
type OptionalKeys<F extends Fields> = Exclude<keyof F, RequiredKeys<F>>;
type Flat<T> = { [K in keyof T]: T[K] };
export type ObjectOf<F extends Fields> = Flat<
  { readonly [K in RequiredKeys<F>]: Infer<F[K]> } & { readonly [K in OptionalKeys<F>]?: Exclude<Infer<F[K]>, undefined> }
>;

export interface ObjectReader<F extends Fields> extends Reader<ObjectOf<F>> {
  readonly fields: F;
  /** Keys that must be present, in declaration order (an OpenAPI document's `required`). */
  readonly required: readonly string[];
  readonly exact: boolean;
}

/** Refuses the value at `path` (for map() and hand-written rules on top of the readers). */
export function invalid(path: string, expected: string): never {
  throw new JsonError('ERR_JSON_INVALID', path, expected);
}

/** `what` says in words what the string must be, for people who fix the input ("1-64 characters of A-Z a-z 0-9"). */
export function string(o: { readonly max: number; readonly min?: number; readonly pattern?: RegExp; readonly what?: string }): Reader<string> {
  const min = o.min ?? 0;
  const expects = o.what ?? `string of ${min}..${o.max} characters${o.pattern ? ` matching ${o.pattern.source}` : ''}`;
  return {
    expects,
    read(v, path) {
      if (typeof v !== 'string' || v.length < min || v.length > o.max || (o.pattern !== undefined && !o.pattern.test(v))) invalid(path, `expected ${expects}`);
      return v;
    },
  };
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[]): Reader<T> {
  const set: ReadonlySet<string> = new Set(values);
  const expects = `one of ${values.join(', ')}`;
  return {
    expects,
    read(v, path) {
      if (typeof v !== 'string' || !set.has(v)) invalid(path, `expected ${expects}`);
      return v as T;
    },
  };
}

/** Exactly this value (a format version, a type tag). */
export function literal<const T extends string | number | boolean>(value: T): Reader<T> {
  const expects = JSON.stringify(value);
  return {
    expects,
    read(v, path) {
      if (v !== value) invalid(path, `expected ${expects}`);
      return value;
    },
  };
}

/** A safe integer in min..max. */
export function integer(o: { readonly min: number; readonly max: number }): Reader<number> {
  const expects = `integer in ${o.min}..${o.max}`;
  return {
    expects,
    read(v, path) {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < o.min || v > o.max) invalid(path, `expected ${expects}`);
      return v;
    },
  };
}

/** A finite number in min..max (measurements: milliseconds with fractions). */
export function number(o: { readonly min: number; readonly max: number }): Reader<number> {
  const expects = `number in ${o.min}..${o.max}`;
  return {
    expects,
    read(v, path) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < o.min || v > o.max) invalid(path, `expected ${expects}`);
      return v;
    },
  };
}

export function boolean(): Reader<boolean> {
  return {
    expects: 'boolean',
    read(v, path) {
      if (typeof v !== 'boolean') invalid(path, 'expected boolean');
      return v;
    },
  };
}

interface HexOptions {
  /** Exact length in bytes, or give min and max. */
  readonly bytes?: number;
  readonly min?: number;
  readonly max?: number;
  /** Refuse uppercase digits (text that is signed or hashed as it stands). */
  readonly lowercase?: boolean;
}

// Hex digits by character code (ASCII only): a table lookup per character is 2.5x faster than
// /^[0-9a-fA-F]*$/ over the ~600-digit public areas of a registrar's batch lines.
const LOWER_DIGITS = new Uint8Array(128);
const ANY_CASE_DIGITS = new Uint8Array(128);
for (const c of '0123456789abcdef') LOWER_DIGITS[c.charCodeAt(0)] = ANY_CASE_DIGITS[c.charCodeAt(0)] = 1;
for (const c of 'ABCDEF') ANY_CASE_DIGITS[c.charCodeAt(0)] = 1;

function allDigits(v: string, digits: Uint8Array): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c > 127 || digits[c] === 0) return false;
  }
  return true;
}

function hexRule(o: HexOptions): { expects: string; check: (v: unknown) => v is string } {
  const min = o.bytes ?? o.min ?? 0;
  const max = o.bytes ?? o.max ?? Number.MAX_SAFE_INTEGER;
  const digits = o.lowercase ? LOWER_DIGITS : ANY_CASE_DIGITS;
  const size = min === max ? `${min}` : `${min}..${max}`;
  return {
    expects: `${o.lowercase ? 'lowercase ' : ''}hex of ${size} bytes`,
    check: (v): v is string => typeof v === 'string' && v.length % 2 === 0 && v.length >= 2 * min && v.length <= 2 * max && allDigits(v, digits),
  };
}

/** Hex text read as bytes. */
export function hex(o: HexOptions): Reader<Uint8Array> {
  const { expects, check } = hexRule(o);
  return {
    expects,
    read(v, path) {
      if (!check(v)) invalid(path, `expected ${expects}`);
      // checked above: decoding as fromHex does, without its second pass over the text
      return new Uint8Array(Buffer.from(v, 'hex'));
    },
  };
}

/** Hex text kept as text, lowercase (ids and names compared as strings). */
export function hexText(o: HexOptions): Reader<string> {
  const { expects, check } = hexRule(o);
  return {
    expects,
    read(v, path) {
      if (!check(v)) invalid(path, `expected ${expects}`);
      return v.toLowerCase();
    },
  };
}

/** An array reader keeps its item reader (documents compare their item schema with it). */
export interface ArrayReader<T> extends Reader<T[]> {
  readonly item: Reader<T>;
}

export function array<T>(item: Reader<T>, o: { readonly max: number; readonly min?: number }): ArrayReader<T> {
  const min = o.min ?? 0;
  const expects = `array of ${min}..${o.max} items`;
  return {
    item,
    expects,
    read(v, path) {
      if (!Array.isArray(v) || v.length < min || v.length > o.max) invalid(path, `expected ${expects}`);
      const out: T[] = [];
      for (let i = 0; i < v.length; i++) out.push(item.read(v[i], `${path}[${i}]`));
      return out;
    },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * An object with these fields. Exact by default: a key outside `fields` is refused, so a message
 * means exactly what its schema says. `exact: false` ignores unknown keys (and leaves them out).
 */
export function object<const F extends Fields>(fields: F, o: { readonly exact?: boolean } = {}): ObjectReader<F> {
  const exact = o.exact ?? true;
  const keys = Object.keys(fields);
  const required = keys.filter((k) => !(fields[k] as Partial<OptionalReader<unknown>>).optional);
  const known: ReadonlySet<string> = new Set(keys);
  const readers = keys.map((k) => fields[k]!);
  // A schema is read at the same root again and again: its field paths are built once per root.
  let root: string | null = null;
  let paths: string[] = [];
  return {
    fields,
    required,
    exact,
    expects: 'object',
    read(v, path) {
      if (!isObject(v)) invalid(path, 'expected object');
      if (exact) {
        for (const k in v) {
          if (!known.has(k)) invalid(path === '' ? k.slice(0, 40) : `${path}.${k.slice(0, 40)}`, 'unknown key');
        }
      }
      const out: Record<string, unknown> = {};
      if (path !== root) {
        root = path;
        paths = keys.map((k) => (path === '' ? k : `${path}.${k}`));
      }
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const got = Object.hasOwn(v, k) ? v[k] : undefined;
        const value = readers[i]!.read(got, paths[i]!);
        if (value !== undefined) out[k] = value;
      }
      return out as ObjectOf<F>;
    },
  };
}

/** An object used as a map (counts by reason): at most maxKeys keys, each value read by `value`. */
export function record<T>(value: Reader<T>, o: { readonly maxKeys: number }): Reader<Readonly<Record<string, T>>> {
  const expects = `object of at most ${o.maxKeys} keys`;
  return {
    expects,
    read(v, path) {
      if (!isObject(v)) invalid(path, `expected ${expects}`);
      const keys = Object.keys(v);
      if (keys.length > o.maxKeys) invalid(path, `expected ${expects}, got ${keys.length}`);
      const out: Record<string, T> = {};
      for (const k of keys) out[k] = value.read(v[k], `${path}.${k.slice(0, 40)}`);
      return out;
    },
  };
}

/** Any JSON object, unchecked inside (passed on to a reader of its own, e.g. a signed certificate). */
export function anyObject(o: { readonly maxKeys: number }): Reader<Readonly<Record<string, unknown>>> {
  const expects = `object of at most ${o.maxKeys} keys`;
  return {
    expects,
    read(v, path) {
      if (!isObject(v) || Object.keys(v).length > o.maxKeys) invalid(path, `expected ${expects}`);
      return v;
    },
  };
}

export function optional<T>(inner: Reader<T>): OptionalReader<T> {
  return {
    optional: true,
    inner,
    expects: `${inner.expects} (optional)`,
    read: (v, path) => (v === undefined ? undefined : inner.read(v, path)),
  };
}

/** The same fields, each optional (overrides laid over defaults). */
export function optionalFields<const F extends Fields>(fields: F): { readonly [K in keyof F]: OptionalReader<Infer<F[K]>> } {
  const out: Record<string, OptionalReader<unknown>> = {};
  for (const k of Object.keys(fields)) out[k] = optional(fields[k]!);
  return out as { readonly [K in keyof F]: OptionalReader<Infer<F[K]>> };
}

type JsonType = 'string' | 'number' | 'boolean' | 'array' | 'object';

function jsonType(v: unknown): JsonType | null {
  if (Array.isArray(v)) return 'array';
  if (v === null) return null;
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'object' ? t : null;
}

/** A field that may be written in several JSON types ("a path or a list of them"): read by the reader for the value's type. */
export function byType<T>(readers: Partial<Record<JsonType, Reader<T>>>): Reader<T> {
  const expects = Object.values(readers).map((r) => r.expects).join(' or ');
  return {
    expects,
    read(v, path) {
      const t = jsonType(v);
      const reader = t === null ? undefined : readers[t];
      if (reader === undefined) invalid(path, `expected ${expects}`);
      return reader.read(v, path);
    },
  };
}

/** A reader that wraps another (nullable, map) keeps it, so a document can be compared with the shape inside. */
export interface WrappingReader<T> extends Reader<T> {
  readonly inner: Reader<unknown>;
}

export function nullable<T>(inner: Reader<T>): WrappingReader<T | null> {
  return {
    inner,
    expects: `${inner.expects} or null`,
    read: (v, path) => (v === null ? null : inner.read(v, path)),
  };
}

/** A further rule on a read value: `problem` returns what is wrong, or undefined. */
export function refine<T>(inner: Reader<T>, problem: (value: T) => string | undefined): WrappingReader<T> {
  return {
    inner,
    expects: inner.expects,
    read(v, path) {
      const value = inner.read(v, path);
      const p = problem(value);
      if (p !== undefined) invalid(path, p);
      return value;
    },
  };
}

/** A read value turned into another type; `to` refuses with invalid(path, ...). */
export function map<T, U>(inner: Reader<T>, to: (value: T, path: string) => U, expects = inner.expects): WrappingReader<U> {
  return { inner, expects, read: (v, path) => to(inner.read(v, path), path) };
}

export interface Problem {
  readonly path: string;
  readonly expected: string;
}

/**
 * Every field `reader` refuses in `value`, not only the first (for files a person fixes in one
 * go, such as board configs): objects are searched field by field, wrappers (nullable, optional,
 * refine, map) through what they wrap; a refusal found nowhere deeper is named where it happened.
 * Empty when reader.read(value, path) would succeed.
 */
export function problemsOf(reader: Reader<unknown>, value: unknown, path: string): Problem[] {
  const out: Problem[] = [];
  collect(reader, value, path, out);
  return out;
}

function collect(reader: Reader<unknown>, value: unknown, path: string, out: Problem[]): void {
  try {
    reader.read(value, path);
    return;
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    const before = out.length;
    const r = reader as Partial<ObjectReader<Fields> & WrappingReader<unknown>>;
    const at = (k: string): string => (path === '' ? k : `${path}.${k}`);
    if (r.fields !== undefined && isObject(value)) {
      const fields = r.fields;
      if (r.exact) for (const k in value) if (!Object.hasOwn(fields, k)) out.push({ path: at(k.slice(0, 40)), expected: 'unknown key' });
      for (const k of Object.keys(fields)) collect(fields[k]!, Object.hasOwn(value, k) ? value[k] : undefined, at(k), out);
    } else if (r.inner !== undefined) collect(r.inner, value, path, out);
    if (out.length === before) out.push({ path: err.path, expected: err.expected });
  }
}

/** Reads `value` at `root`; a refusal becomes the caller's own error (its code, the reader's message and path). */
export function readWith<T>(reader: Reader<T>, value: unknown, root: string, refuse: (err: JsonError) => Error): T {
  try {
    return reader.read(value, root);
  } catch (err) {
    throw err instanceof JsonError ? refuse(err) : err;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** JSON text or bytes, size-capped before parsing (the cap counts UTF-8 bytes). */
export function parseJson(payload: Uint8Array | string, maxBytes: number, what: string): unknown {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) throw new JsonError('ERR_JSON_OVERSIZE', '', `${what} is ${size} bytes, at most ${maxBytes}`);
  try {
    return JSON.parse(typeof payload === 'string' ? payload : utf8.decode(payload));
  } catch {
    throw new JsonError('ERR_JSON_SYNTAX', '', `${what} is not valid UTF-8 JSON`);
  }
}

/** A message kind as a transport takes it: its own size cap and the reader of its parsed value. */
export interface MessageSchema<T> {
  readonly name: string;
  readonly maxBytes: number;
  /** Checks a value already parsed under maxBytes; throws on anything else. */
  read(value: unknown): T;
}
