/**
 * Approvals: a tool call that needs a person's yes before it runs (a payment above the agent's threshold, a tool
 * its persona guards with `approve_tools`). The person sees it as a question and answers it like one.
 */

/** The question the person is asked (the CLI, the TUI and `session show` print the same words). */
export function approvalQuestion(tool: string, reason: string): string {
  return `approve ${tool}? ${reason} (yes/no)`;
}

/** Whether an answer approves: yes, y, approve, ok, allow (anything else refuses: a typo must not pay). */
export function approves(text: string): boolean {
  return /^\s*(y|yes|approve[ds]?|ok|okay|allow)\s*[.!]?\s*$/i.test(text);
}
