/**
 * The backend names, apart from backend.ts so that code which only names a backend (the --backend
 * flag of every command) does not load tfjs: `pldr --help` and `pldr info` start without it.
 */
import {PldrError} from './errors.js';

export const BACKENDS = ['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export function parseBackendName(name: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(name)) return name as BackendName;
  throw new PldrError(`unknown backend "${name}": use one of ${BACKENDS.join(', ')}`);
}
