/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): after a successful
 * sign-in the browser gets a cookie naming the account, MAC'ed with a server key. Attempts that present a
 * valid cookie for the account they try are throttled on that device's own counter, not the account-wide
 * one, so an attacker who exhausts the account's budget does not lock its owner out.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const DEVICE_COOKIE = '__Host-bw_device';
const MAX_AGE_S = 180 * 86_400;

export function issueDeviceCookie(key: Buffer, userId: string, secure: boolean): string {
  const nonce = randomBytes(12).toString('base64url');
  const body = `${Buffer.from(userId).toString('base64url')}.${nonce}`;
  const mac = createHmac('sha256', key).update(body).digest('base64url');
  const name = secure ? DEVICE_COOKIE : DEVICE_COOKIE.replace('__Host-', '');
  return `${name}=${body}.${mac}; Path=/; Max-Age=${MAX_AGE_S}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** The device id (nonce) when the request carries a valid cookie for `userId`, else undefined. */
export function deviceFor(key: Buffer, cookieHeader: string | undefined, userId: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (!value || (name !== DEVICE_COOKIE && name !== DEVICE_COOKIE.replace('__Host-', ''))) continue;
    const [user, nonce, mac] = value.split('.');
    if (!user || !nonce || !mac) continue;
    const expected = createHmac('sha256', key).update(`${user}.${nonce}`).digest('base64url');
    if (mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) continue;
    if (Buffer.from(user, 'base64url').toString() === userId) return nonce;
  }
  return undefined;
}
