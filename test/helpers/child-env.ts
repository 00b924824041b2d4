/**
 * The environment for p2tui processes the tests start. vitest sets FORCE_COLOR for the TUI's colour tests, and
 * Node warns on stderr when a child sees both FORCE_COLOR and NO_COLOR (CI machines often set NO_COLOR), so the
 * colour switches are removed and then set explicitly.
 */
export function childEnv(extra: Record<string, string> = {}, options: { color?: boolean } = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['FORCE_COLOR'];
  delete env['NO_COLOR'];
  if (options.color !== true) env['NO_COLOR'] = '1';
  return { ...env, ...extra };
}
