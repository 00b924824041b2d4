/** Files `p2tui init` writes: a small working workspace to start from. */
export const INIT_FILES: Readonly<Record<string, string>> = {
  'p2tui.yaml': `# p2tui workspace settings. Every field is optional; these are the defaults.
model: scripted/default   # model for personas that name none (provider/name)
approval: ask             # how agents' questions are answered when nobody is at a terminal: deny | approve | ask
concurrency: 32           # steps running at once, over all sessions
max_steps: 200            # step budget of a session (model calls over all its conversations)
database: .p2tui/p2tui.db
judge:                    # scores each finished session; see them with: p2tui eval show last --criteria
  evaluators:
    - id: quality
      kind: llm           # a rubric scored by the judge model (the scripted judge offline)
      rubric: helpfulness # rubrics/helpfulness.yaml
    - id: finished
      kind: assert
      assert:
        - finished: true
`,
  'rubrics/helpfulness.yaml': `# What the judge scores, criterion by criterion (weights sum to 1; p2tui rubrics lint checks).
description: Is the answer useful, correct and to the point?
criteria:
  - id: relevance
    weight: 0.5
    description: The answer addresses the task that was asked.
  - id: correctness
    weight: 0.3
    description: The answer is correct, with no failed tool calls or errors left unexplained.
  - id: concise
    weight: 0.2
    description: The answer is concise and clear.
`,
  'personas/assistant.yaml': `# A persona: what the agent is, which model it runs on, what it may use.
id: assistant
description: General assistant that counts words and hands research questions to the researcher.
model: scripted/default
temperature: 0.2
system: |
  You are {{id}}. {{description}}
tools: [word_count]
agents: [researcher]
policies:
  max_steps: 20
`,
  'personas/researcher.md': `---
id: researcher
description: Researcher who answers questions about a topic and asks the user when the topic is unclear.
model: scripted/default
temperature: 0.3
script:
  # Rules for the offline simulator (ignored by real models): pattern → steps.
  - when: 'research (?<topic>.+)'
    steps:
      - reply: 'My notes on {{topic}}: this is where a real model would research. Try it with --model openai/gpt-4o-mini.'
---
You are {{id}}. {{description}}
Answer in three sentences at most.
`,
  'tools/word_count.ts': `import { defineTool, z } from 'p2tui';

export const wordCount = defineTool({
  name: 'word_count',
  description: 'Count the words and characters of a text.',
  input: z.object({ text: z.string().describe('The text to count') }),
  effect: 'pure',
  run({ text }) {
    const words = text.trim() === '' ? 0 : text.trim().split(/\\s+/).length;
    return { words, characters: text.length, summary: \`\${words} words, \${text.length} characters\` };
  },
});
`,
  'rollouts/example.yaml': `# A rollout in P2Engine's format: a team, a base configuration and variants to compare.
teams:
  counting:
    initial_message: "Count the words of: the quick brown fox jumps over the lazy dog"
    base:
      agent_id: assistant
    variants:
      - temperature: 0
      - temperature: 1.2
    eval:
      evaluator_id: gpt4_judge
      metric: score
      rubric: The answer states the word count (9) correctly.
`,
  '.gitignore': `.p2tui/
`,
};
