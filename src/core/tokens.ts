/**
 * A token count estimated from text: about four characters a token for English. Used where a provider reports no
 * usage and for the context window's budget; counts made this way are marked estimated wherever they are shown.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
