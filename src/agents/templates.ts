import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { suggest } from '../core/errors.ts';

/*
 * Behaviour templates: P2Engine named a persona's system prompt by template (`behavior_template: weather_expert`).
 * One lookup for a rollout spec's `behavior_template` and `config set-behavior`.
 */

/** Template files, in the order a name is looked up: p2tui's Markdown and text, then P2Engine's Jinja. */
export const TEMPLATE_EXTENSIONS = ['.md', '.txt', '.j2'] as const;

/**
 * A `behavior_template` as P2Engine meant it: a name (no whitespace) is a persona template of the workspace's
 * `templates/` folder; text with whitespace is the system prompt itself.
 */
export function resolveBehaviorTemplate(
  root: string,
  value: string,
): { readonly text: string; readonly file?: string } | { readonly error: string } {
  if (/\s/.test(value.trim())) return { text: value };
  // A name is a file name in templates/, never a path out of it.
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(value))
    return {
      error: `'${value}' is neither a template name (letters, digits, _ and -) nor a system prompt (which has a space)`,
    };
  // P2Engine kept its persona templates in templates/personas/: a copy of that folder works as it is.
  const candidates = ['', 'personas/'].flatMap((sub) => TEMPLATE_EXTENSIONS.map((ext) => `${sub}${value}${ext}`));
  for (const name of candidates) {
    const file = join(root, 'templates', name);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8').trim();
    const relative = `templates/${name}`;
    if (text === '') return { error: `${relative} is empty` };
    // Jinja statements would reach the model as they are: refused rather than sent as a prompt nobody wrote.
    if (/\{%/.test(text))
      return {
        error: `${relative} uses Jinja statements ({% … %}), which p2tui does not evaluate; only {{variables}} are filled`,
      };
    return { text, file: relative };
  }
  const names = templateNames(root);
  const near = suggest(value, names);
  return {
    error:
      `no template '${value}' in templates/ (looked for ${TEMPLATE_EXTENSIONS.map((e) => value + e).join(', ')}, ` +
      'also in templates/personas/)' +
      `${near === undefined ? '' : `; did you mean ${near}?`}` +
      `${names.length === 0 ? '' : `; templates: ${names.join(', ')}`}` +
      '; a system prompt written out here needs at least one space',
  };
}

/** The templates of a workspace's `templates/` folder (and its `personas/`), by name. */
export function templateNames(root: string): string[] {
  const names = ['templates', 'templates/personas'].flatMap((folder) => {
    const dir = join(root, folder);
    return existsSync(dir) ? readdirSync(dir).filter((f) => TEMPLATE_EXTENSIONS.some((e) => f.endsWith(e))) : [];
  });
  return names.map((f) => f.replace(/\.[^.]+$/, '')).filter((name, i, all) => all.indexOf(name) === i);
}
