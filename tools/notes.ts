import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';

const notebook = (workspace: string): string => join(workspace, '.p2tui', 'notebook.jsonl');

interface NoteLine {
  key: string;
  agent: string;
  title: string;
  text: string;
}

function readNotes(workspace: string): NoteLine[] {
  const file = notebook(workspace);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as NoteLine);
}

/**
 * An effectful tool: it appends to the team's notebook. The call's idempotency key is written with the note, so
 * after a crash `reconcile` can tell whether the note was written, and the engine never writes it twice.
 */
export const writeNote = defineTool({
  name: 'write_note',
  description:
    "Write a note to the team's notebook (a file in the workspace), for example a plan or a finding to keep.",
  input: z.object({ title: z.string().min(1).default('note'), text: z.string().min(1) }),
  effect: 'effectful',
  dedup: 'penalty',
  run({ title, text }, ctx) {
    mkdirSync(join(ctx.workspace, '.p2tui'), { recursive: true });
    appendFileSync(notebook(ctx.workspace), `${JSON.stringify({ key: ctx.key, agent: ctx.agent, title, text })}\n`);
    return { written: true, title, summary: `noted "${title}"` };
  },
  reconcile(_args, ctx) {
    const note = readNotes(ctx.workspace).find((n) => n.key === ctx.key);
    return note === undefined ? null : { written: true, title: note.title, summary: `noted "${note.title}"` };
  },
});

export const readNotebook = defineTool({
  name: 'read_notes',
  description: "Read the latest notes from the team's notebook.",
  input: z.object({ limit: z.int().min(1).max(50).default(5) }),
  effect: 'idempotent',
  run({ limit }, ctx) {
    const notes = readNotes(ctx.workspace).slice(-limit);
    return {
      notes: notes.map((n) => ({ title: n.title, text: n.text, by: n.agent })),
      summary: notes.length === 0 ? 'the notebook is empty' : notes.map((n) => n.title).join(', '),
    };
  },
});
