import { defineTool, z } from 'p2tui';

// Demo data, as in P2Engine's league tool.
const LEADERS: Record<string, string> = {
  'premier league': 'Manchester City',
  'la liga': 'Real Madrid',
  'ligue 1': 'Paris Saint-Germain',
  bundesliga: 'Bayern Munich',
  'serie a': 'Inter Milan',
};

export const getLeagueLeader = defineTool({
  name: 'get_league_leader',
  description: 'Which club leads a football league (Premier League, La Liga, Ligue 1, Bundesliga, Serie A).',
  input: z.object({ league: z.string().min(1).describe('League name, e.g. Premier League') }),
  effect: 'pure',
  run({ league }) {
    const leader = LEADERS[league.trim().toLowerCase()];
    if (leader === undefined)
      throw new Error(`unknown league '${league}'; known: Premier League, La Liga, Ligue 1, Bundesliga, Serie A`);
    return { league, leader, summary: `${leader} leads the ${league}` };
  },
});
