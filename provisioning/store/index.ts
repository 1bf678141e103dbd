export { openStore, DEFAULT_STORE_URL } from './open.ts';
export { openSqliteStore, SqliteStore } from './sqlite.ts';
export { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres.ts';
export { MIGRATIONS, type Migration } from './migrations.ts';
export * from './types.ts';
