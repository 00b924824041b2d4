/**
 * The offline judge for a rubric written as prose (P2Engine's `rubrics/<id>.jinja`): it reads the requirements it
 * recognises in the text and checks the answer against each, so the score follows what the rubric says, visibly and
 * deterministically. It measures shape, not wit, and says which requirements it read.
 *
 * Requirements it recognises (case-insensitive):
 *   - a length in sentences: "at least 8 sentences", "≥ 8 sentences", "8 or more sentences", "at most 3 sentences"
 *   - a punch-line ("punch-line", "punchline"): the answer's last sentence ends with "!"; "exactly one punch-line"
 *     also wants no other sentence to end with "!"
 *   - a comic device, when the text names one of pun, absurd comparison or callback: a comparison ("like a …",
 *     "as … as …", "than a …"), a callback (a word of the first sentence comes back in the last) or a pun ("pun"
 *     said, or a word played on: one word inside another in the last sentence)
 *   - no clichés ("cliché", "cliche"): none of the stock lines below appear
 *   - a scale of allowed scores ("{0, 0.25, 0.5, 0.75, 1.0}"): the score is rounded to the nearest of them
 * With none of these, it falls back to the rubric's own words the answer takes up.
 */

export interface TextVerdict {
  readonly score: number;
  readonly reason: string;
}

const NUMBERS: Readonly<Record<string, number>> = {
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
};
const COUNT = String.raw`(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)`;
const AT_LEAST = new RegExp(
  String.raw`(?:at least|no fewer than|minimum of|min\.?|≥|>=)\s*${COUNT}\s+sentences|${COUNT}\s*(?:\+|or more)\s+sentences`,
  'i',
);
const AT_MOST = new RegExp(String.raw`(?:at most|no more than|maximum of|max\.?|≤|<=)\s*${COUNT}\s+sentences`, 'i');
const SCALE = /[{[(]\s*((?:0|1)(?:\.\d+)?(?:\s*,\s*(?:0|1)(?:\.\d+)?){2,})\s*[}\])]/;

/** Stock lines a rubric asking for no clichés holds against a joke. */
const CLICHES = [
  'walks into a bar',
  'why did the chicken',
  'knock knock',
  'knock, knock',
  'at the end of the day',
  'think outside the box',
  'last but not least',
  'it is what it is',
  'time flies',
  'in a nutshell',
  'take my wife',
];

const STOP = new Set(
  [
    'the and for are but not you all any can had her was one our out has him his how now its who did she too use',
    'that with have this will your from they were what when then than there their which would about could into just',
    'like also only',
  ]
    .join(' ')
    .split(' '),
);

function count(word: string): number {
  return /^\d+$/.test(word) ? Number(word) : (NUMBERS[word.toLowerCase()] ?? 0);
}

function sentencesOf(text: string): string[] {
  return (text.match(/[^.!?]+[.!?]+["')\]]*|[^.!?]+$/g) ?? []).map((s) => s.trim()).filter((s) => /\w/.test(s));
}

function wordsOf(text: string): string[] {
  return (text.toLowerCase().match(/[a-z][a-z'-]*[a-z]|[a-z]/g) ?? []).filter((w) => w.length >= 4 && !STOP.has(w));
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Scores an answer against a prose rubric; null when the text names nothing this judge can check. */
export function scriptedTextJudge(rubric: string, answer: string): TextVerdict | null {
  const checks: { score: number; why: string }[] = [];
  const sentences = sentencesOf(answer);
  const n = sentences.length;
  const least = AT_LEAST.exec(rubric);
  if (least !== null) {
    const want = count(least[1] ?? least[2]!);
    if (want > 0) checks.push({ score: Math.min(1, n / want), why: `${n} of at least ${want} sentences` });
  }
  const most = AT_MOST.exec(rubric);
  if (most !== null) {
    const max = count(most[1]!);
    if (max > 0)
      checks.push({ score: n <= max ? 1 : Math.max(0, 1 - (n - max) / max), why: `${n} sentences, at most ${max}` });
  }
  if (/punch[- ]?lines?/i.test(rubric)) {
    const exclaimed = sentences.filter((s) => /![”"')\]]*$/.test(s)).length;
    const lands = n > 0 && /![”"')\]]*$/.test(sentences[n - 1]!);
    const exactly = /exactly one punch[- ]?line/i.test(rubric);
    const ok = lands && (!exactly || exclaimed === 1);
    checks.push({
      score: ok ? 1 : 0,
      why: ok
        ? 'a punch-line at the end'
        : lands
          ? `${exclaimed} punch-lines, not exactly one`
          : 'no punch-line (the last sentence does not land with "!")',
    });
  }
  if (/\bpuns?\b|absurd comparison|callback/i.test(rubric)) {
    const device = deviceOf(answer, sentences);
    checks.push({ score: device === null ? 0 : 1, why: device ?? 'no pun, comparison or callback' });
  }
  if (/clich[eé]/i.test(rubric)) {
    const lower = answer.toLowerCase();
    const found = CLICHES.filter((c) => lower.includes(c));
    checks.push({
      score: found.length === 0 ? 1 : 0,
      why: found.length === 0 ? 'no clichés' : `cliché "${found[0]}"`,
    });
  }
  if (checks.length === 0) return null;
  // Nothing to read is not a joke without clichés: an empty answer scores 0 whatever the rubric asks.
  if (answer.trim() === '') return { score: 0, reason: 'no answer (scripted judge)' };
  const mean = checks.reduce((sum, c) => sum + c.score, 0) / checks.length;
  const scale = SCALE.exec(rubric)?.[1]
    ?.split(',')
    .map((v) => Number(v.trim()))
    .filter((v) => v >= 0 && v <= 1);
  const score =
    scale === undefined || scale.length === 0
      ? round(mean)
      : scale.reduce((best, v) => (Math.abs(v - mean) < Math.abs(best - mean) ? v : best), scale[0]!);
  const snapped = score === round(mean) ? '' : `; ${round(mean)} → ${score} on the rubric's scale`;
  return { score, reason: `${checks.map((c) => c.why).join(', ')}${snapped} (scripted judge)` };
}

/** The comic device an answer shows, named, or null. */
function deviceOf(answer: string, sentences: readonly string[]): string | null {
  const comparison = /\b(?:like an? \w+|as \w+ as (?:an? )?\w+|\w+er than an? \w+)/i.exec(answer);
  if (comparison !== null) return `a comparison ("${comparison[0]}")`;
  if (/\bpun\b/i.test(answer)) return 'a pun (says so)';
  if (sentences.length >= 2) {
    const last = wordsOf(sentences[sentences.length - 1]!);
    const back = wordsOf(sentences[0]!).find((w) => last.includes(w));
    if (back !== undefined) return `a callback ("${back}")`;
    const played = last.find((w) => last.some((o) => o !== w && o.length > w.length && o.includes(w)));
    if (played !== undefined) return `a pun (on "${played}")`;
  }
  return null;
}
