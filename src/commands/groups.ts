/** The groups commands come in (`p2tui session …`), their other names and what the help says of each. */

/** Other names for command groups (P2Engine users know sessions as conversations). */
export const GROUP_ALIASES: Readonly<Record<string, string>> = {
  conversation: 'session',
  conversations: 'session',
  sessions: 'session',
  agent: 'agents',
  tool: 'tools',
  event: 'events',
  artifact: 'artifacts',
  rubric: 'rubrics',
};

export const GROUP_SUMMARIES: Readonly<Record<string, string>> = {
  session: 'Inspect, follow, control, branch, compare and move sessions (alias: conversation)',
  artifacts: 'Tool outputs, files and results of a session: list, show, compare',
  eval: 'The judge: score a session now, show its scores, rank its branches (CI gates with --fail-under)',
  rubrics: 'Rubrics the judge scores against: list, lint',
  ledger: 'Agent wallets on the embedded ledger: init, balance, transfer, history, audit, overview',
  agents: 'The personas of the workspace',
  tools: 'The tools of the workspace',
  events: 'The event log',
  report: 'Self-contained HTML reports of a rollout or a session, to open offline or send',
  rollout: 'Rollouts: every team × variant × scenario × repeat as a session, in parallel, judged; statistics, CI gates',
  // P2Engine's command names (issue 19).
  chat: "P2Engine's spellings of chat: chat with <agent> (= chat <agent>), chat resume <session> (= chat --session)",
  config: "Overrides as P2Engine's config set them: set-tools and set-behavior fork at the newest entry and check out",
  conversation:
    'The session commands under P2Engine’s name, but conversation prune <session> deletes old branches of one session ' +
    '(session prune deletes whole sessions)',
  migrate:
    "Bring another tool's files over: migrate p2engine <checkout> writes a p2tui workspace from a P2Engine checkout",
};
