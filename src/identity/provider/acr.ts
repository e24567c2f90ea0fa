/**
 * Authentication context classes and methods. `acr` says how strongly the user was authenticated
 * (OpenID Connect Core §2), `amr` which methods were used (RFC 8176 values: `pwd`, `otp`, `hwk`, `user`,
 * `mfa`). A client asks for step-up with `acr_values=urn:bulwark:acr:mfa`: a session that only has a password
 * behind it is then sent back through the second factor.
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';

export const ACR_PASSWORD = 'urn:bulwark:acr:pwd';
export const ACR_MFA = 'urn:bulwark:acr:mfa';
export const ACR_VALUES = [ACR_PASSWORD, ACR_MFA];

export type AuthMethod = 'pwd' | 'otp' | 'hwk' | 'user' | 'mfa' | 'swk';

export function acrFor(amr: readonly AuthMethod[]): string {
  return amr.includes('mfa') ? ACR_MFA : ACR_PASSWORD;
}

/** The default policy plus a login check that forces re-authentication when MFA is asked for and missing. */
export function interactionPolicyWithStepUp() {
  const policy = interactionPolicy.base();
  const login = policy.get('login');
  if (!login) throw new TypeError('oidc-provider base policy has no login prompt');
  login.checks.add(
    new interactionPolicy.Check(
      'acr_step_up',
      'Multi-factor authentication is required',
      (ctx: KoaContextWithOIDC) => {
        const requested = String(ctx.oidc.params?.['acr_values'] ?? '').split(' ');
        if (requested.includes(ACR_MFA) && ctx.oidc.session?.acr !== ACR_MFA)
          return interactionPolicy.Check.REQUEST_PROMPT;
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      },
    ),
  );
  return policy;
}
