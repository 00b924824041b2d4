import { describe, expect, it } from 'vitest';
import { mapLiteLlmModel } from '../../src/models/litellm-ids.ts';

describe("P2Engine's LiteLLM model ids", () => {
  it('keeps ids p2tui runs as written and maps the other spellings of its providers', () => {
    expect(mapLiteLlmModel('openai/gpt-4o')).toEqual({ kind: 'same', ref: 'openai/gpt-4o' });
    expect(mapLiteLlmModel('ollama/llama3')).toEqual({ kind: 'same', ref: 'ollama/llama3' });
    expect(mapLiteLlmModel('gpt-3.5-turbo')).toMatchObject({ kind: 'mapped', ref: 'openai/gpt-3.5-turbo' });
    expect(mapLiteLlmModel('o3-mini')).toMatchObject({ kind: 'mapped', ref: 'openai/o3-mini' });
    expect(mapLiteLlmModel('ollama_chat/llama3')).toMatchObject({ kind: 'mapped', ref: 'ollama/llama3' });
  });

  it('names the provider it has no adapter for and the OpenAI-compatible route', () => {
    const anthropic = mapLiteLlmModel('anthropic/claude-3-5-sonnet');
    expect(anthropic.kind).toBe('unsupported');
    if (anthropic.kind !== 'unsupported') return;
    expect(anthropic.provider).toBe('anthropic');
    expect(anthropic.message).toContain("is served by 'anthropic'");
    expect(anthropic.message).toContain('LiteLLM proxy');
    expect(anthropic.message).toContain('providers: { anthropic: { type: openai');
    expect(anthropic.message).toContain('anthropic/claude-3-5-sonnet');
    expect(mapLiteLlmModel('claude-3-opus')).toMatchObject({ kind: 'unsupported', provider: 'anthropic' });
  });

  it("runs a provider declared in p2tui.yaml under LiteLLM's name unchanged", () => {
    expect(mapLiteLlmModel('anthropic/claude-3-5-sonnet', ['anthropic'])).toEqual({
      kind: 'same',
      ref: 'anthropic/claude-3-5-sonnet',
    });
  });
});
