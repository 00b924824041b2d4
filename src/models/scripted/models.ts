/**
 * The simulator's models (`scripted/<name>`): `default`, `slow` (at least 300 ms a call) and `judge` (the offline
 * judge). A module of its own, without imports, so the CLI checks a `--model` without loading the simulator.
 */
export const SCRIPTED_MODELS: readonly string[] = ['default', 'slow', 'judge'];
