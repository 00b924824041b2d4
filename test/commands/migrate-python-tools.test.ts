import { describe, expect, it } from 'vitest';
import { pythonTools } from '../../src/commands/migrate/source.ts';

/* How `migrate p2engine` finds P2Engine's tools in tools/*.py: the @function_tool decorators, read as text. */
describe('pythonTools', () => {
  it('reads name= from a decorator over several lines, past brackets and strings that contain them', () => {
    const text = [
      'from agents.decorators import function_tool',
      '',
      '@function_tool(',
      '    description="Looks (and looks) up [things]: name=\'not_this\'",',
      '    name="get_weather",  # the name models call',
      '    post_effects=["a)", "b"],',
      ')',
      'def weather(location: str) -> dict:',
      '    return {}',
    ].join('\n');
    expect(pythonTools(text, 'tools/weather_tool.py')).toEqual([
      { name: 'get_weather', file: 'tools/weather_tool.py', line: 3 },
    ]);
  });

  it('takes a positional name, a qualified decorator, or else the decorated function, and skips commented-out ones', () => {
    const text = [
      "@function_tool('first_tool', description='One.')",
      'def a(): ...',
      '',
      "@decorators.function_tool(name='second_tool')",
      'async def b(): ...',
      '',
      '@function_tool(description=NAME_FROM_CONSTANT)',
      '@other_decorator',
      'async def third_tool(x): ...',
      '',
      '# @function_tool(name="commented_out")',
    ].join('\n');
    expect(pythonTools(text, 'tools/t.py').map((t) => [t.name, t.line])).toEqual([
      ['first_tool', 1],
      ['second_tool', 4],
      ['third_tool', 7],
    ]);
  });
});
