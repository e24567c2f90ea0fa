/**
 * Server-rendered pages: plain HTML forms that work without JavaScript, one `<h1>`, labelled fields,
 * `lang`, and only same-origin assets (a stylesheet and, for passkeys only, one script), so the CSP can
 * forbid inline script and everything third-party.
 */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The CSP of every page: nothing inline, nothing foreign, never framed (clickjacking). */
export const PAGE_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "script-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': PAGE_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

export interface PageOptions {
  /** Shown in an alert region (role="alert") above the form. */
  error?: string;
  notice?: string;
  scripts?: string[];
}

export function page(title: string, body: string, options: PageOptions = {}): string {
  const error = options.error
    ? `<p class="error" role="alert" id="form-error">${escapeHtml(options.error)}</p>`
    : '';
  const notice = options.notice ? `<p class="notice" role="status">${escapeHtml(options.notice)}</p>` : '';
  const scripts = (options.scripts ?? [])
    .map((s) => `<script src="${escapeHtml(s)}" defer></script>`)
    .join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Bulwark</title>
<link rel="stylesheet" href="/assets/bulwark.css">
${scripts}
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${error}${notice}
${body}
</main>
</body>
</html>`;
}

/** A labelled input; `describedBy` links a hint or the error for screen readers. */
export function field(options: {
  name: string;
  label: string;
  type?: string;
  autocomplete?: string;
  value?: string;
  required?: boolean;
  inputmode?: string;
  hint?: string;
  invalid?: boolean;
}): string {
  const id = `f-${options.name}`;
  const hint = options.hint ? `<p class="hint" id="${id}-hint">${escapeHtml(options.hint)}</p>` : '';
  const described = [options.hint ? `${id}-hint` : '', options.invalid ? 'form-error' : '']
    .filter(Boolean)
    .join(' ');
  return `<p><label for="${id}">${escapeHtml(options.label)}</label>
<input id="${id}" name="${escapeHtml(options.name)}" type="${options.type ?? 'text'}"${options.autocomplete ? ` autocomplete="${options.autocomplete}"` : ''}${options.inputmode ? ` inputmode="${options.inputmode}"` : ''}${options.value ? ` value="${escapeHtml(options.value)}"` : ''}${options.required === false ? '' : ' required'}${described ? ` aria-describedby="${described}"` : ''}${options.invalid ? ' aria-invalid="true"' : ''}></p>${hint}`;
}

export function hidden(name: string, value: string): string {
  return `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;
}

export const STYLESHEET = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1b1f24}
main{max-width:26rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0003}
h1{font-size:1.4rem;margin-top:0}label{display:block;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #6b7280;border-radius:4px}
input:focus,button:focus{outline:3px solid #2563eb;outline-offset:1px}
button{font:inherit;padding:.5rem 1rem;border-radius:4px;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;cursor:pointer;margin:.25rem .25rem .25rem 0}
button.secondary{background:#fff;color:#1d4ed8}.error{color:#b91c1c;font-weight:600}.notice{color:#065f46}
.hint{color:#4b5563;font-size:.9rem;margin-top:-.5rem}code{word-break:break-all}`;
