import type { ChatMessage } from '../provider.ts';
import { escapeRegExp } from './language.ts';

/**
 * What the simulator reads of a system prompt, so that a fork changing only the prompt answers visibly differently.
 * It honours a small set of instructions in the final answer (never in which tools it calls):
 *
 * - a role other than the agent itself ("You are a pirate captain", "Act as a lawyer"): the answer opens "As <role>:";
 * - brevity ("one sentence", "brief", "concise", "terse", "short answers"): the answer becomes one sentence;
 * - a list ("bullet points", "as a list"): one "- " line per finding;
 * - formality ("formal", "formally"): no contractions, and it closes "Kind regards, <agent>.";
 * - capitals ("in capital letters", "all caps", "uppercase"): the answer in upper case;
 * - a required opening ("start with X", "begin with X"), word ("always mention X", "include the word X") or sign-off
 *   ("sign off with X", "end with X"): the answer starts with, contains or ends with X.
 *
 * Sentences about how to work (tools, delegation, payments, looking things up), the identity sentence ("You are
 * <agent>…"), the persona's description and the lines p2tui adds itself change nothing: the simulator already works
 * from its tools and scripts. Any other sentence is an instruction it cannot imitate, and it says so on a last line:
 * `(instruction noted, not simulated: "<sentence>")` — so every prompt change shows in the answer.
 */
export interface Style {
  readonly role?: string;
  readonly brief: boolean;
  readonly bullets: boolean;
  readonly formal: boolean;
  readonly upper: boolean;
  readonly opening?: string;
  readonly words: readonly string[];
  readonly signOff?: string;
  /** Sentences it recognised nothing in (shown, so a change to them is visible). */
  readonly unmatched: readonly string[];
}

type Draft = { -readonly [K in keyof Style]: Style[K] } & { words: string[]; unmatched: string[] };

/** Lines `renderSystemPrompt` appends: they describe the tools, not the persona. */
const GENERATED = [
  /You can delegate work with the delegate tool to:[^\n]*/g,
  /If you need information only the user has, ask with the ask_user tool\./g,
  /When the task is done, reply with your final answer as plain text\./g,
];

/** A sentence about how to work: the simulator does that from its tools and script rules already. */
const OPERATIONAL =
  /\b(tools?|delegat\w*|specialists?|look(?:s|ed)? up|lookups?|pay|pays|paid|payments?|invoices?|escrows?|ask_user|numbers?|transfer\w*)\b/i;

const REQUIRED_WORD = new RegExp(
  String.raw`\b(?:always\s+)?(?:mention|include|use|say)\s+(?:the word|the phrase|the term)\s+(?<x>"[^"]+"|'[^']+'|\S+)` +
    String.raw`|\balways (?:mention|say|include|use)\s+(?<y>"[^"]+"|'[^']+'|\S+)`,
  'gi',
);

const NEUTRAL = /^(?:you are|you're)\s*[:,.]?\s*$/i;

/** Reads the style a system prompt asks for; `agent` and `description` are the persona's own (they are neutral). */
export function readStyle(system: string, agent: string, description: string): Style {
  let text = system;
  for (const re of GENERATED) text = text.replace(re, ' ');
  if (description.trim() !== '') text = text.split(description.trim()).join(' ');
  const style: Draft = { brief: false, bullets: false, formal: false, upper: false, words: [], unmatched: [] };
  const self = new RegExp(`^(?:you are|you're)\\s+${escapeRegExp(agent)}\\b`, 'i');
  for (const raw of sentences(text)) {
    const sentence = raw.trim();
    if (sentence === '' || NEUTRAL.test(sentence)) continue;
    let recognised = false;
    // A role has an article ("You are a pirate captain") or a verb ("Act as a lawyer"); "You are writer" is a name.
    const role =
      /^(?:(?:you are|you're)\s+(?=(?:a|an|the)\s)|(?:act|speak|answer|reply|write) as\s+)(?<role>[^,.;:!?\n]+)/i.exec(
        sentence,
      );
    if (role !== null && !self.test(sentence)) {
      style.role = role.groups!['role']!.trim();
      recognised = true;
    } else if (self.test(sentence) || /^(?:you are|you're)\s+[\w-]+\s*(?:[:,]|$)/i.test(sentence)) recognised = true;
    if (
      /\b(one sentence|single sentence|brief|briefly|concise|concisely|terse|tersely|short answers?|succinct)\b/i.test(
        sentence,
      )
    ) {
      style.brief = true;
      recognised = true;
    }
    if (/\b(bullet(?:ed)?(?: points?| list)?|bullets|as a list|list form)\b/i.test(sentence)) {
      style.bullets = true;
      recognised = true;
    }
    if (/\bformal(?:ly)?\b/i.test(sentence)) {
      style.formal = true;
      recognised = true;
    }
    if (/\b(capital letters|all caps|upper ?case|shout)\b/i.test(sentence)) {
      style.upper = true;
      recognised = true;
    }
    const opening =
      /\b(?:start|begin|open)s?\s+(?:every answer |your answers? |each answer )?with\s+(?<x>"[^"]+"|'[^']+'|\S+)/i.exec(
        sentence,
      );
    if (opening !== null) {
      style.opening = unquote(opening.groups!['x']!);
      recognised = true;
    }
    const signOff =
      /\b(?:sign (?:off|it|answers?)?\s*(?:with|as)|end (?:every answer |your answers? |each answer )?with|close with)\s+(?<x>"[^"]+"|'[^']+'|.+)/i.exec(
        sentence,
      );
    if (signOff !== null) {
      style.signOff = unquote(signOff.groups!['x']!.trim());
      recognised = true;
    }
    for (const m of sentence.matchAll(REQUIRED_WORD)) {
      style.words.push(unquote(m.groups!['x'] ?? m.groups!['y']!));
      recognised = true;
    }
    if (!recognised && !OPERATIONAL.test(sentence)) style.unmatched.push(sentence);
  }
  return style;
}

/** The persona's system prompt as the request carries it (the first message, when it is a system message). */
export function systemOf(messages: readonly ChatMessage[]): string {
  const first = messages[0];
  return first?.role === 'system' ? first.content : '';
}

/** Applies a style to a final answer. A neutral style returns the answer unchanged. */
export function applyStyle(answer: string, style: Style, agent: string): string {
  let text = answer;
  if (style.brief) text = oneSentence(text);
  else if (style.bullets) text = bulleted(text);
  if (style.formal) text = formalise(text);
  if (style.role !== undefined) text = `As ${style.role}: ${text}`;
  if (style.opening !== undefined && !text.startsWith(style.opening)) text = `${style.opening} ${text}`;
  const missing = style.words.filter((w) => !new RegExp(`\\b${escapeRegExp(w)}\\b`, 'i').test(text));
  if (missing.length > 0) text = `${text} (${missing.join(', ')})`;
  if (style.formal) text = `${text}\nKind regards, ${agent}.`;
  if (style.signOff !== undefined && !text.trimEnd().endsWith(style.signOff)) text = `${text}\n${style.signOff}`;
  if (style.upper) text = text.toUpperCase();
  for (const sentence of style.unmatched) text = `${text}\n(instruction noted, not simulated: "${sentence}")`;
  return text;
}

function sentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+|\n+/).map((s) => s.replace(/[.!?]+$/, '').trim());
}

function unquote(text: string): string {
  return text.replace(/^["']|["']$/g, '').replace(/[.!?]+$/, '');
}

/** Every line (bullets included) folded into one sentence: the findings joined by semicolons. */
function oneSentence(text: string): string {
  const parts = text
    .split('\n')
    .map((l) => l.replace(/^\s*[-*]\s*/, '').trim())
    .filter((l) => l !== '' && !/^(I asked|Here is what I found|In short:)/.test(l))
    .map((l) => l.replace(/[.;:\s]+$/, ''));
  const body = parts.length === 0 ? text.trim() : parts.join('; ');
  return `${body.replace(/\.\s+(?=\S)/g, '; ')}.`.replace(/\.\.$/, '.');
}

/** One "- " line per finding: the answer's lines, or its sentences when it is one line. */
function bulleted(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^In short:/.test(l));
  const items = lines.length > 1 ? lines : text.split(/(?<=[.;])\s+/).map((s) => s.trim());
  return items
    .filter((i) => i !== '')
    .map((i) => (i.startsWith('- ') ? i : `- ${i}`))
    .join('\n');
}

const CONTRACTIONS: readonly [RegExp, string][] = [
  [/\bI'll\b/g, 'I will'],
  [/\bI'm\b/g, 'I am'],
  [/\bdon't\b/gi, 'do not'],
  [/\bcan't\b/gi, 'cannot'],
  [/\bwon't\b/gi, 'will not'],
  [/\bit's\b/g, 'it is'],
  [/\bIt's\b/g, 'It is'],
  [/\bwhat's\b/g, 'what is'],
  [/\bWhat's\b/g, 'What is'],
  [/\bthat's\b/g, 'that is'],
];

function formalise(text: string): string {
  let out = text;
  for (const [re, full] of CONTRACTIONS) out = out.replace(re, full);
  return out;
}
