import { afterEach, describe, expect, it } from 'vitest';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { ValidationError } from '../../src/core/errors.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

const spaces: TempWorkspace[] = [];
afterEach(() => {
  for (const w of spaces.splice(0)) w.cleanup();
});

async function errorOf(files: Record<string, string>): Promise<ValidationError> {
  const ws = tempWorkspace(files);
  spaces.push(ws);
  let broken;
  try {
    broken = (await loadWorkspace(ws.dir)).brokenPersonas;
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  // Broken persona files do not fail the workspace: they are set aside, each with its problems.
  if (broken.length > 0)
    return new ValidationError(
      'E_PERSONA_INVALID',
      broken.flatMap((b) => b.issues),
    );
  throw new Error('expected a validation error');
}

const VALID = `id: helper
description: Helps.
tools: [get_weather]
`;

describe('persona validation names the file, the line and the field', () => {
  it('an unknown tool, with a suggestion', async () => {
    const error = await errorOf({
      'personas/helper.yaml': `id: helper\ndescription: Helps.\ntools:\n  - get_wether\n`,
      'tools/weather.ts': `import { defineTool, z } from 'p2tui';\nexport const t = defineTool({ name: 'get_weather', description: 'w', input: z.object({}), effect: 'pure', run: () => 1 });\n`,
    });
    expect(error.code).toBe('E_PERSONA_INVALID');
    expect(error.issues[0]).toMatchObject({ file: 'personas/helper.yaml', line: 4, field: 'tools[0]' });
    expect(error.message).toContain(
      "personas/helper.yaml:4:5: tools[0]: unknown tool 'get_wether' (did you mean get_weather?)",
    );
  });

  it('malformed YAML', async () => {
    const error = await errorOf({ 'personas/helper.yaml': `id: helper\ndescription: [unclosed\ntools: []\n` });
    expect(error.issues[0]?.file).toBe('personas/helper.yaml');
    expect(error.issues[0]?.line).toBeGreaterThanOrEqual(2);
    expect(error.message).toMatch(/YAML syntax/);
  });

  it('a wrong type, a missing field and an unknown field', async () => {
    const error = await errorOf({
      'personas/helper.yaml': `id: helper\ntemperature: hot\npolicies:\n  max_stepz: 3\n`,
    });
    const byField = Object.fromEntries(error.issues.map((i) => [i.field, i]));
    expect(byField['temperature']).toMatchObject({ line: 2 });
    expect(byField['description']?.message).toMatch(/is required/);
    expect(byField['policies']).toMatchObject({ line: 4 });
    expect(byField['policies']?.message).toMatch(/unknown field 'max_stepz'/);
  });

  it('an unknown agent to delegate to, and a template variable that does not exist', async () => {
    const error = await errorOf({
      'personas/alpha.yaml': `id: alpha\ndescription: Leads.\nsystem: "You are {{id}} on {{team}}"\nagents: [betta]\n`,
      'personas/beta.yaml': `id: beta\ndescription: Helps.\n`,
    });
    expect(error.message).toContain("personas/alpha.yaml:4:10: agents[0]: unknown agent 'betta' (did you mean beta?)");
    expect(error.message).toMatch(/personas\/alpha.yaml:3:\d+: system: unknown template variable \{\{team\}\}/);
  });

  it('script rules: a bad pattern and a call to a tool the persona lacks', async () => {
    const error = await errorOf({
      'personas/alpha.yaml': `id: alpha\ndescription: Leads.\nscript:\n  - when: '(unclosed'\n    steps: [{ reply: hi }]\n  - when: 'pay'\n    steps:\n      - call: transfer\n`,
    });
    expect(error.message).toMatch(/alpha.yaml:4:\d+: script\[0\]\.when: not a valid regular expression/);
    expect(error.message).toMatch(/alpha.yaml:8:\d+: script\[1\]\.steps\[0\]\.call: the script calls 'transfer'/);
  });

  it('two personas with one id', async () => {
    const error = await errorOf({
      'personas/same.md': `---\nid: same\ndescription: A.\n---\nBody\n`,
      'personas/same.yaml': `id: same\ndescription: B.\n`,
    });
    expect(error.message).toMatch(
      /personas\/same.yaml:1:\d+: id: persona id 'same' is already defined in personas\/same.md/,
    );
  });

  it('Markdown personas: front matter plus the body as the system prompt, with lines counted from the file', async () => {
    const ws = tempWorkspace({
      'personas/writer.md': `---\nid: writer\ndescription: Writes.\ntemperature: 0.7\n---\nYou are {{id}}.\nWrite well.\n`,
    });
    spaces.push(ws);
    const workspace = await loadWorkspace(ws.dir);
    expect(workspace.persona('writer')).toMatchObject({
      temperature: 0.7,
      systemTemplate: 'You are {{id}}.\nWrite well.',
    });
    const error = await errorOf({ 'personas/bad.md': `---\nid: bad\ndescription: B.\ntemperature: 9\n---\nBody\n` });
    expect(error.issues[0]).toMatchObject({ file: 'personas/bad.md', line: 4, field: 'temperature' });
  });

  it('an unknown agent asked for by name gets a suggestion', async () => {
    const ws = tempWorkspace({ 'personas/helper.yaml': VALID.replace('tools: [get_weather]\n', '') });
    spaces.push(ws);
    const workspace = await loadWorkspace(ws.dir);
    expect(() => workspace.persona('helpr')).toThrow(
      expect.objectContaining({ code: 'E_UNKNOWN_AGENT', hint: expect.stringMatching(/Did you mean helper\?/) }),
    );
  });

  it('p2tui.yaml errors name the line too', async () => {
    const error = await errorOf({ 'p2tui.yaml': `model: scripted/default\napproval: sometimes\n` });
    expect(error.message).toMatch(/p2tui.yaml:2:\d+: approval:/);
  });

  it('the demo workspace (the repository root) is valid', async () => {
    const workspace = await loadWorkspace(new URL('../..', import.meta.url).pathname, { db: ':memory:' });
    expect([...workspace.personas.keys()].sort()).toEqual(['agent_alpha', 'agent_beta', 'agent_helper', 'treasurer']);
    expect(workspace.brokenPersonas).toEqual([]);
    expect(workspace.persona('agent_alpha').agents).toEqual(['agent_beta', 'agent_helper', 'treasurer']);
  });
});
