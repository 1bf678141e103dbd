// COPY ... FROM STDIN (binary format) through node-postgres without another dependency: pg runs
// any object with submit() as a query, and its connection sends CopyData messages. Binary
// format (PostgreSQL docs, "COPY", Binary Format): bytea and text go as their bytes, with no
// hex or escaping to build in JavaScript, which is what made the unnest() arrays slow.
import type pg from 'pg';

/** One field: a string (text, as UTF-8), bytes (bytea), an int4 (number), or null. */
export type CopyField = string | Uint8Array | number | null;

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
// Rows per CopyData message: large enough to amortize the message, small enough to stream.
const ROWS_PER_CHUNK = 500;

/** The binary COPY stream of `rows` (each with the same number of fields), in chunks. */
export function* binaryCopyChunks(rows: Iterable<readonly CopyField[]>): Generator<Buffer> {
  const header = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(header, 0);
  yield header; // flags 0, header extension length 0
  let parts: Buffer[] = [];
  for (const row of rows) {
    const head = Buffer.alloc(2);
    head.writeInt16BE(row.length, 0);
    parts.push(head);
    for (const f of row) {
      const len = Buffer.alloc(4);
      if (f === null) {
        len.writeInt32BE(-1, 0);
        parts.push(len);
        continue;
      }
      let body: Buffer;
      if (typeof f === 'string') body = Buffer.from(f, 'utf8');
      else if (typeof f === 'number') {
        body = Buffer.alloc(4);
        body.writeInt32BE(f, 0);
      } else body = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
      len.writeInt32BE(body.length, 0);
      parts.push(len, body);
    }
    if (parts.length >= ROWS_PER_CHUNK * (1 + 2 * row.length)) {
      yield Buffer.concat(parts);
      parts = [];
    }
  }
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1, 0);
  parts.push(trailer);
  yield Buffer.concat(parts);
}

interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

/** The submittable: sends the COPY statement, then the chunks when the server asks for them. */
class CopyIn {
  callback: ((err: Error | null) => void) | undefined;
  rowCount = 0;
  readonly #text: string;
  readonly #chunks: Iterable<Buffer>;
  #done = false;

  constructor(text: string, chunks: Iterable<Buffer>) {
    this.#text = text;
    this.#chunks = chunks;
  }

  submit(connection: CopyConnection): void {
    connection.query(this.#text);
  }

  handleCopyInResponse(connection: CopyConnection): void {
    try {
      for (const chunk of this.#chunks) connection.sendCopyFromChunk(chunk);
    } catch (err) {
      connection.sendCopyFail(`client failed to encode the rows: ${(err as Error).message}`.slice(0, 200));
      return;
    }
    connection.endCopyFrom();
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)$/.exec(msg.text ?? '');
    if (m !== null) this.rowCount = Number(m[1]);
  }

  // An error comes instead of ReadyForQuery for this query (the client moves on without it).
  handleError(err: Error): void {
    this.#finish(err);
  }

  handleReadyForQuery(): void {
    this.#finish(null);
  }

  handleCopyData(): void {}
  handleEmptyQuery(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}

  #finish(err: Error | null): void {
    if (this.#done) return;
    this.#done = true;
    this.callback?.(err);
  }
}

/** Runs `COPY table (columns) FROM STDIN (FORMAT binary)` with these rows on this client; resolves to the rows copied. */
export function copyRows(client: pg.PoolClient, table: string, columns: readonly string[], rows: Iterable<readonly CopyField[]>): Promise<number> {
  const copy = new CopyIn(`COPY ${table} (${columns.join(', ')}) FROM STDIN (FORMAT binary)`, binaryCopyChunks(rows));
  return new Promise<number>((resolve, reject) => {
    copy.callback = (err) => (err === null ? resolve(copy.rowCount) : reject(err));
    (client as unknown as { query(q: CopyIn): void }).query(copy);
  });
}
