/** Core's public names: what components may import. Everything else under src/core is internal. */
export {
  type AuditActor,
  type AuditEvent,
  type AuditOutcome,
  type AuditSink,
  MemoryAuditSink,
} from './audit/types.ts';
export {
  type AuditClient,
  type AuditClientOptions,
  createAuditClient,
  uuidV7Generator,
} from './audit-client/index.ts';
export { type Clock, ManualClock, systemClock } from './clock.ts';
export {
  type ComponentContext,
  type ComponentDefinition,
  type ComponentInstance,
  componentAuditClient,
  type RunningComponent,
  runComponent,
} from './component.ts';
export { type ConfigCheck, checkConfig, type LoadOptions, loadConfig } from './config/load.ts';
export { buildConfigSchema, type ComponentConfigSpec, type JsonSchema } from './config/schema.ts';
export type {
  BulwarkConfig,
  ComponentSectionConfig,
  Mode,
  ServerConfig,
  StorageConfig,
} from './config/types.ts';
export {
  BulwarkError,
  type BulwarkErrorOptions,
  ConfigError,
  type ConfigIssue,
  coreError,
  ERROR_CATALOG,
  type ErrorCatalog,
  type ErrorCode,
  errorFactory,
  StorageError,
} from './errors.ts';
export {
  createLogger,
  createRedactor,
  type Logger,
  type LoggerSettings,
  REDACTED,
  type Redactor,
  redactText,
} from './log/index.ts';
export {
  authorityCaFile,
  type ComponentMesh,
  JOIN_TOKEN_ENV,
  joinComponentMesh,
  serverHosts,
} from './mtls/component-mesh.ts';
export { callerOf, type ServiceMtls, type ServingIdentity } from './service/mtls-gate.ts';
export { asBulwarkError, type Problem, toProblem } from './service/problem.ts';
export { type ReadinessCheck, Service, type ServiceOptions } from './service/service.ts';
export {
  type Migration,
  openStore,
  PostgresStore,
  type Queryable,
  type Row,
  SqliteStore,
  type SqlValue,
  type Store,
} from './storage/index.ts';
export { ensureLocalCa, localServerCredentials, type ServerCredentials } from './tls/local-ca.ts';
export { secureContextOptions, TLS12_AEAD_CIPHERS } from './tls/policy.ts';
export { VERSION } from './version.ts';
