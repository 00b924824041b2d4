/**
 * Copying to the clipboard the way terminal programs over SSH do: an OSC 52 sequence (`ESC ] 52 ; c ; <base64> BEL`)
 * that the terminal takes as "set the clipboard". It prints nothing and moves no cursor, so writing it between Ink's
 * frames leaves the frame as it was.
 */
export function osc52(text: string): string {
  return `\u001b]52;c;${Buffer.from(text, 'utf8').toString('base64')}\u0007`;
}

/** "copied 1,234 characters": what the notice says. */
export function copiedNotice(text: string): string {
  const n = [...text].length;
  return `copied ${n.toLocaleString('en-US')} character${n === 1 ? '' : 's'}`;
}
