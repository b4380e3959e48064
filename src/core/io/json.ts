/** A JSON value's shape, for the readers of config files (config.json, a snapshot's config, heads). */

/** Whether `v` is a JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
