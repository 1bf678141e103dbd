// Public API of the btn-node firmware: chain rules, network messages and transport.
// (The sealing engine, journal and agent are exported from their own folders' index files.)
export { bytesEqual, concatBytes, fromHex, leadingZeroBits, toHex } from './core/bytes.ts';
export * from './protocol/chain/index.ts';
export * from './protocol/index.ts';
export * from './transport/index.ts';
