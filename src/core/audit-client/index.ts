/** The core audit client: batching, retrying, spooling writer of audit events. */
export { type AuditClient, type AuditClientOptions, createAuditClient } from './audit-client.ts';
export { Spool } from './spool.ts';
export { uuidV7Generator } from './uuid-v7.ts';
