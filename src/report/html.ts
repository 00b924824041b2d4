/**
 * HTML built one way only: `html` templates escape every value put into them unless it is already `Html`. Everything
 * a report shows came from models, tools and users, so no string reaches the page without passing through here.
 */

export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

export type HtmlValue = string | number | boolean | null | undefined | Html | readonly HtmlValue[];

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Text as HTML text or attribute value. Control characters (other than tab and newline) become U+FFFD: the HTML
 * parser calls them errors, and a terminal escape in a model's reply means nothing on a page.
 */
export function escapeHtml(text: string): string {
  return (
    text
      .replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c)
      // eslint-disable-next-line no-control-regex -- control characters are exactly what must not reach the page
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd')
  );
}

function valueHtml(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(valueHtml).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += valueHtml(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** Joins pieces of HTML (already safe) with an optional separator. */
export function joinHtml(parts: readonly Html[], separator = ''): Html {
  return new Html(parts.map((p) => p.text).join(separator));
}

/** An id usable in `id` and `href="#…"` whatever the text it is made from (session ids are safe; be sure anyway). */
export function anchorId(prefix: string, text: string): string {
  return `${prefix}-${text.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}
