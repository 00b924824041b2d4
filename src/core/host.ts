import { hostname } from 'node:os';

/** This process, as lease holders and claims name it. */
export const THIS_HOST = hostname();

/**
 * Whether a process can still be alive: certain only for processes on this host (signal 0 probes without
 * touching it); a process on another host is assumed alive until its lease expires.
 */
export function processIsAlive(host: string, pid: number): boolean {
  if (host !== THIS_HOST) return true;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
