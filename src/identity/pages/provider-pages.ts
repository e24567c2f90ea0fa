/** The pages oidc-provider renders itself (logout confirmation, after-logout, errors), in Bulwark's layout. */
import type { KoaContextWithOIDC } from 'oidc-provider';
import { escapeHtml, PAGE_HEADERS, page } from './html.ts';

function send(ctx: KoaContextWithOIDC, html: string): void {
  for (const [k, v] of Object.entries(PAGE_HEADERS)) ctx.set(k, v);
  ctx.type = 'html';
  ctx.body = html;
}

/** RP-initiated logout confirmation; `form` is oidc-provider's form with its own CSRF token. */
export async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  send(
    ctx,
    page(
      'Sign out',
      `<p>Do you want to sign out of Bulwark?</p>${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`,
    ),
  );
}

export async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  send(ctx, page('Signed out', '<p>You are signed out.</p>'));
}

export async function renderError(
  ctx: KoaContextWithOIDC,
  out: { error: string; error_description?: string },
  _error: Error,
): Promise<void> {
  send(
    ctx,
    page(
      'Sign-in problem',
      `<p>The request could not be completed.</p><p><code>${escapeHtml(out.error)}</code>${out.error_description ? `: ${escapeHtml(out.error_description)}` : ''}</p>`,
    ),
  );
}
