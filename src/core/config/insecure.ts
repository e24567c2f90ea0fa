/**
 * Combinations of individually valid settings that are insecure. In production mode each is an error;
 * in development mode they are allowed (a laptop has no certificates yet) and `bulwark up` warns.
 */
import type { ConfigIssue } from '../errors.ts';
import type { BulwarkConfig } from './types.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/** Every insecure combination in `config`, whatever the mode. */
export function insecureSettings(config: BulwarkConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { server, storage } = config;

  if (!server.tls.enabled) {
    issues.push({
      path: 'server.tls.enabled',
      message:
        'TLS is switched off in production mode, so tokens and data would cross the network in clear text',
      fix: 'set server.tls.enabled: true (Bulwark issues a certificate from its local CA when none is given), or mode: development on a laptop',
    });
  }
  if ((server.tls.certFile === null) !== (server.tls.keyFile === null)) {
    issues.push({
      path: server.tls.certFile === null ? 'server.tls.certFile' : 'server.tls.keyFile',
      message: 'certFile and keyFile must be given together',
      fix: 'set both server.tls.certFile and server.tls.keyFile, or neither to use the local CA',
    });
  }
  if (server.host === '0.0.0.0' || server.host === '::') {
    issues.push({
      path: 'server.host',
      message: 'control-plane components would listen on every interface',
      fix: 'bind to 127.0.0.1 or to the one interface the other machines reach',
    });
  }
  if (storage.engine === 'postgres') {
    const url = safeUrl(storage.postgres.url);
    if (url && !isLoopback(url.hostname) && !storage.postgres.ssl) {
      issues.push({
        path: 'storage.postgres.ssl',
        message: 'PostgreSQL on another host is reached without TLS',
        fix: 'set storage.postgres.ssl: true',
      });
    }
  }
  return issues;
}

/** The insecure combinations that block start-up: all of them in production, none in development. */
export function findInsecureSettings(config: BulwarkConfig): ConfigIssue[] {
  return config.mode === 'production' ? insecureSettings(config) : [];
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
