/**
 * The environment for p2tui processes the tests start. vitest sets FORCE_COLOR for the TUI's colour tests, and
 * Node warns on stderr when a child sees both FORCE_COLOR and NO_COLOR (CI machines often set NO_COLOR), so the
 * colour switches are removed and then set explicitly. OpenTelemetry's exporter variables are removed too.
 */
export function childEnv(extra: Record<string, string> = {}, options: { color?: boolean } = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['FORCE_COLOR'];
  delete env['NO_COLOR'];
  // A collector configured in the shell running the tests would get every test's sessions (live export): only the
  // tests that ask for one set these.
  for (const name of Object.keys(env)) if (name.startsWith('OTEL_EXPORTER_OTLP_')) delete env[name];
  if (options.color !== true) env['NO_COLOR'] = '1';
  return { ...env, ...extra };
}
