/**
 * The trust bundle in the SPIFFE bundle format (SPIFFE_Trust_Domain_and_Bundle.md §4): a JWK Set whose
 * X.509 authorities are JWKs with `use: "x509-svid"` and the root certificate in `x5c`, plus
 * `spiffe_sequence` (increases on every change) and `spiffe_refresh_hint` (seconds).
 */
import { X509Certificate } from 'node:crypto';

export interface SpiffeBundleJwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  use: 'x509-svid';
  x5c: string[];
}

export interface SpiffeBundle {
  keys: SpiffeBundleJwk[];
  spiffe_sequence: number;
  spiffe_refresh_hint: number;
}

export function toSpiffeBundle(
  rootsPem: readonly string[],
  sequence: number,
  refreshHintSeconds: number,
): SpiffeBundle {
  return {
    keys: rootsPem.map((pem) => {
      const cert = new X509Certificate(pem);
      const jwk = cert.publicKey.export({ format: 'jwk' }) as Record<string, string>;
      return {
        kty: jwk['kty']!,
        ...(jwk['crv'] ? { crv: jwk['crv'], x: jwk['x'], y: jwk['y'] } : {}),
        // §4.2.1: "use" MUST be "x509-svid" for X.509 authorities.
        use: 'x509-svid' as const,
        // §4.2.2: x5c holds exactly one certificate, the authority itself (base64 DER, RFC 7517 §4.7).
        x5c: [cert.raw.toString('base64')],
      };
    }),
    spiffe_sequence: sequence,
    spiffe_refresh_hint: refreshHintSeconds,
  };
}

/** The PEM roots of a SPIFFE bundle (what a TLS stack takes as `ca`); skips entries that are not X.509. */
export function rootsFromSpiffeBundle(bundle: SpiffeBundle): string[] {
  return bundle.keys
    .filter((k) => k.use === 'x509-svid' && Array.isArray(k.x5c) && k.x5c.length === 1)
    .map((k) => new X509Certificate(Buffer.from(k.x5c[0]!, 'base64')).toString());
}
