/**
 * A headless sign-in to the clinic demo, as a native app would do it: OpenID Connect authorization code
 * with PKCE (RFC 7636, S256) through `openid-client`, driving identity's server-rendered pages the way a
 * browser would (cookies, the per-interaction CSRF token, Origin / Sec-Fetch-Site on form posts), then
 * intercepting the redirect to the public client's loopback `redirect_uri` (RFC 8252 §7.3) instead of
 * listening on it.
 *
 * Second factor: with a TOTP secret it answers the two-step page with RFC 6238 codes (`otpauth`, the
 * library identity itself verifies with). An account that must enrol (the admin `erin` at her first
 * sign-in) is enrolled only when asked to (`enrol: true`); the secret is then returned so that later
 * sign-ins can compute codes.
 *
 * As a script: `node examples/clinic/login.ts USERNAME [--totp-secret S]` reads the password from
 * `<home>/clinic/demo-credentials.json` (BULWARK_HOME, default ./.bulwark) and prints the access token.
 * An admin's TOTP secret is kept in `<home>/clinic/demo-totp.json` (0600) after the first enrolment.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as oidc from 'openid-client';
import { TOTP } from 'otpauth';
import { Agent, fetch, request } from 'undici';

/** identity's issuer and the demo's public client (examples/clinic/demo.ts). */
export const DEMO_ISSUER = 'https://127.0.0.1:7304/oidc';
export const DEMO_CLIENT_ID = 'clinic-web';
export const DEMO_REDIRECT = 'http://127.0.0.1:8765/callback';

/** Why a sign-in stopped; stable codes, never carrying the password or a code. */
export type LoginErrorCode =
  | 'login_bad_credentials'
  | 'login_throttled'
  | 'login_second_factor_required'
  | 'login_enrolment_required'
  | 'login_second_factor_refused'
  | 'login_unexpected_page';

export class LoginError extends Error {
  readonly code: LoginErrorCode;
  constructor(code: LoginErrorCode, message: string) {
    super(message);
    this.name = 'LoginError';
    this.code = code;
  }
}

export interface ClinicClient {
  config: oidc.Configuration;
  /** Trusts the local CA; reused for the sign-in pages. */
  dispatcher: Agent;
  issuer: string;
  redirectUri: string;
  close(): Promise<void>;
}

/** Discovers identity and configures the public client (`token_endpoint_auth_method: none`). */
export async function clinicClient(options: {
  ca: string;
  issuer?: string;
  clientId?: string;
  redirectUri?: string;
}): Promise<ClinicClient> {
  const issuer = options.issuer ?? DEMO_ISSUER;
  const redirectUri = options.redirectUri ?? DEMO_REDIRECT;
  const dispatcher = new Agent({ connect: { ca: options.ca } });
  const customFetch = ((url: string, init: Record<string, unknown>) =>
    fetch(url, { ...(init as object), dispatcher })) as unknown as oidc.CustomFetch;
  const config = await oidc.discovery(
    new URL(issuer),
    options.clientId ?? DEMO_CLIENT_ID,
    { redirect_uris: [redirectUri] },
    oidc.None(),
    { [oidc.customFetch]: customFetch },
  );
  config[oidc.customFetch] = customFetch;
  return { config, dispatcher, issuer, redirectUri, close: () => dispatcher.close() };
}

export interface SignInOptions {
  username: string;
  password: string;
  /** Base32 TOTP secret: answers the two-step page. */
  totpSecret?: string;
  /** Enrol TOTP when identity asks for it (first sign-in of an account whose role requires MFA). */
  enrol?: boolean;
  /** Called as soon as an enrolment is confirmed: keep the secret even if a later step fails. */
  onEnrolled?: (totpSecret: string) => void;
  scope?: string;
}

export interface SignInResult {
  accessToken: string;
  idToken?: string;
  refreshToken?: string;
  expiresIn?: number;
  /** The claims of the access token (not verified here: the gateway verifies it). */
  claims: Record<string, unknown>;
  /** Set when this sign-in enrolled TOTP: keep it to compute later codes. */
  totpSecret?: string;
  recoveryCodes?: string[];
}

/** RFC 6238 code for `secret` at the current step plus `offset` steps (identity accepts ±1 step). */
export function totpCode(secret: string, offset = 0, now = Date.now()): string {
  return new TOTP({ secret, algorithm: 'SHA1', digits: 6, period: 30 }).generate({
    timestamp: now + offset * 30_000,
  });
}

interface Page {
  status: number;
  url: string;
  body: string;
  location?: string;
}

/** Cookies and redirects on identity's origin, as a browser keeps them (paths ignored: names are unique). */
class PageSession {
  readonly #cookies = new Map<string, string>();
  readonly #origin: string;
  readonly #dispatcher: Agent;

  constructor(origin: string, dispatcher: Agent) {
    this.#origin = origin;
    this.#dispatcher = dispatcher;
  }

  async send(method: 'GET' | 'POST', url: string, form?: Record<string, string>): Promise<Page> {
    const absolute = new URL(url, this.#origin).href;
    const headers: Record<string, string> = {};
    if (this.#cookies.size) headers['cookie'] = [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      // What a browser sends with a same-origin form post: identity's CSRF checks read both.
      headers['origin'] = this.#origin;
      headers['sec-fetch-site'] = 'same-origin';
    }
    const res = await request(absolute, {
      method,
      headers,
      dispatcher: this.#dispatcher,
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    const set = res.headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /max-age=0\b|expires=thu, 01 jan 1970/i.test(a.trim()));
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
    const location = res.headers['location'];
    return {
      status: res.statusCode,
      url: absolute,
      body: await res.body.text(),
      ...(typeof location === 'string' ? { location: new URL(location, absolute).href } : {}),
    };
  }

  /** Follows redirects while they stay on identity; returns the page, or the redirect that leaves. */
  async follow(start: Page): Promise<Page> {
    let page = start;
    for (let i = 0; i < 10 && page.location && new URL(page.location).origin === this.#origin; i++)
      page = await this.send('GET', page.location);
    return page;
  }
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1];
const uidOf = (url: string) => /\/interaction\/([A-Za-z0-9_-]+)/.exec(url)?.[1];

/** Signs a user in through identity's pages and exchanges the code (with the PKCE verifier) for tokens. */
export async function signIn(client: ClinicClient, options: SignInOptions): Promise<SignInResult> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authorize = oidc.buildAuthorizationUrl(client.config, {
    redirect_uri: client.redirectUri,
    scope: options.scope ?? 'openid profile roles',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const session = new PageSession(new URL(client.issuer).origin, client.dispatcher);
  let page = await session.follow(await session.send('GET', authorize.href));
  const start = uidOf(page.url);
  const csrf = csrfOf(page.body);
  if (!start || !csrf || !page.body.includes('name="password"')) throw unexpected('the sign-in page', page);
  page = await session.send('POST', `/interaction/${start}/login`, {
    login: options.username,
    password: options.password,
    csrf,
  });
  if (page.status === 401) throw new LoginError('login_bad_credentials', 'the username or password is wrong');
  if (page.status === 429) throw new LoginError('login_throttled', 'identity throttles this account');

  let totpSecret: string | undefined;
  let recoveryCodes: string[] | undefined;
  let retriedNextStep = false;
  for (let step = 0; step < 8; step++) {
    page = await session.follow(page);
    if (page.location?.startsWith(client.redirectUri)) break;
    const path = new URL(page.url).pathname;
    const token = csrfOf(page.body);
    // oidc-provider opens a new interaction for consent: each page's own uid goes into its form's action.
    const at = uidOf(page.url);
    if (!token || !at) throw unexpected('a page with a form', page);
    if (path.endsWith('/mfa/enrol')) {
      const secret = /id="totp-secret">([A-Z2-7]+)</.exec(page.body)?.[1];
      if (!secret) throw unexpected('the TOTP enrolment page', page);
      if (!options.enrol)
        throw new LoginError('login_enrolment_required', `${options.username} must enrol a second factor`);
      totpSecret = secret;
      const codes = await session.send('POST', `/interaction/${at}/mfa/enrol`, {
        csrf: token,
        code: totpCode(secret),
      });
      if (codes.status !== 200) throw new LoginError('login_second_factor_refused', 'enrolment refused');
      options.onEnrolled?.(secret);
      recoveryCodes = [...codes.body.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
      page = await session.send('POST', `/interaction/${at}/mfa/done`, { csrf: csrfOf(codes.body) ?? '' });
    } else if (path.endsWith('/mfa')) {
      const secret = options.totpSecret ?? totpSecret;
      if (!secret)
        throw new LoginError('login_second_factor_required', `${options.username} needs a TOTP code`);
      page = await session.send('POST', `/interaction/${at}/mfa`, { csrf: token, code: totpCode(secret) });
      if (page.status === 401 && !retriedNextStep) {
        // identity refuses a step it has accepted before (RFC 6238 §5.2); the next step is within its
        // window, so a second sign-in inside one 30 s step still gets through.
        retriedNextStep = true;
        page = await session.send('POST', `/interaction/${at}/mfa`, {
          csrf: token,
          code: totpCode(secret, 1),
        });
      }
      if (page.status === 401 || page.status === 429)
        throw new LoginError('login_second_factor_refused', 'identity refused the TOTP code');
    } else if (page.body.includes('/consent"')) {
      page = await session.send('POST', `/interaction/${at}/consent`, { csrf: token, decision: 'allow' });
    } else {
      throw unexpected('consent or a second-factor page', page);
    }
  }
  if (!page.location?.startsWith(client.redirectUri)) throw unexpected('the redirect to the client', page);
  const tokens = await oidc.authorizationCodeGrant(client.config, new URL(page.location), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  return {
    accessToken: tokens.access_token,
    ...(tokens.id_token ? { idToken: tokens.id_token } : {}),
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    ...(tokens.expires_in === undefined ? {} : { expiresIn: tokens.expires_in }),
    claims: JSON.parse(Buffer.from(tokens.access_token.split('.')[1] ?? '', 'base64url').toString()),
    ...(totpSecret ? { totpSecret } : {}),
    ...(recoveryCodes ? { recoveryCodes } : {}),
  };
}

/** Revokes a token at identity as the client (RFC 7009). */
export async function revoke(client: ClinicClient, token: string): Promise<void> {
  await oidc.tokenRevocation(client.config, token, { token_type_hint: 'access_token' });
}

function unexpected(what: string, page: Page): LoginError {
  // The status and path only: a page may echo the username, never worth logging.
  return new LoginError(
    'login_unexpected_page',
    `expected ${what}, got ${page.status} ${new URL(page.url).pathname}`,
  );
}

interface DemoCredentialsFile {
  users: { username: string; password: string }[];
  clientId: string;
  redirectUri: string;
}

/** `node examples/clinic/login.ts USERNAME [--totp-secret S]`: prints an access token for a demo user. */
async function main(argv: string[]): Promise<void> {
  const username = argv.find((a) => !a.startsWith('--'));
  const flag = argv.indexOf('--totp-secret');
  if (!username) {
    process.stderr.write('usage: node examples/clinic/login.ts USERNAME [--totp-secret SECRET]\n');
    process.exitCode = 64;
    return;
  }
  const home = resolve(process.env['BULWARK_HOME'] ?? '.bulwark');
  const creds = JSON.parse(
    readFileSync(join(home, 'clinic', 'demo-credentials.json'), 'utf8'),
  ) as DemoCredentialsFile;
  const user = creds.users.find((u) => u.username === username);
  if (!user) {
    process.stderr.write(`no demo user ${username} in ${join(home, 'clinic', 'demo-credentials.json')}\n`);
    process.exitCode = 1;
    return;
  }
  const totpFile = join(home, 'clinic', 'demo-totp.json');
  const saved = existsSync(totpFile)
    ? (JSON.parse(readFileSync(totpFile, 'utf8')) as Record<string, string>)
    : {};
  const totpSecret = flag >= 0 ? argv[flag + 1] : saved[username];
  const client = await clinicClient({
    ca: readFileSync(join(home, 'tls', 'ca.crt'), 'utf8'),
    clientId: creds.clientId,
    redirectUri: creds.redirectUri,
  });
  try {
    const result = await signIn(client, {
      username,
      password: user.password,
      enrol: true,
      onEnrolled: (secret) => {
        writeFileSync(totpFile, `${JSON.stringify({ ...saved, [username]: secret }, null, 2)}\n`, {
          mode: 0o600,
        });
        chmodSync(totpFile, 0o600);
        process.stderr.write(`${username} enrolled TOTP; the secret is kept in ${totpFile} (0600)\n`);
      },
      ...(totpSecret ? { totpSecret } : {}),
    });
    process.stdout.write(`${result.accessToken}\n`);
  } catch (err) {
    process.stderr.write(
      `${err instanceof LoginError ? err.code : 'login_failed'}: ${(err as Error).message}\n`,
    );
    process.exitCode = 1;
  } finally {
    await client.close();
  }
}

if (import.meta.main) await main(process.argv.slice(2));
