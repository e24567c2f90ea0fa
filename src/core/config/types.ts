/** The validated configuration, as components see it. Mirrors `schema.ts`; a test keeps the two aligned. */

export type Mode = 'production' | 'development';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface TlsConfig {
  enabled: boolean;
  certFile: string | null;
  keyFile: string | null;
  caFile: string | null;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

export interface ServerConfig {
  host: string;
  tls: TlsConfig;
  limits: {
    bodyBytes: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
  };
  shutdownGraceMs: number;
  metricsCallers: string[];
}

export interface StorageConfig {
  engine: 'sqlite' | 'postgres';
  postgres: { url: string; poolSize: number; ssl: boolean };
}

export interface SupervisorConfig {
  restartInitialDelayMs: number;
  restartMaxDelayMs: number;
  stableAfterMs: number;
  readyTimeoutMs: number;
  stopTimeoutMs: number;
}

/** Every component section has these; components extend it with their own keys. */
export interface ComponentSectionConfig {
  enabled: boolean;
  port: number;
  [key: string]: unknown;
}

export interface BulwarkConfig {
  mode: Mode;
  /** Absolute path of the data directory (resolved at load time). */
  home: string;
  log: {
    level: LogLevel;
    redactKeys: string[];
    maskFields: Record<string, 'ssn' | 'card' | 'email' | 'phone' | 'last4' | 'full'>;
  };
  server: ServerConfig;
  storage: StorageConfig;
  auditClient: { url: string | null; batchSize: number; flushIntervalMs: number };
  supervisor: SupervisorConfig;
  mesh: { authorityUrl: string | null; hosts: string[] };
  components: Record<string, ComponentSectionConfig>;
}
