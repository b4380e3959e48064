// Preloaded with `node --import` by tests/commands/startup.test.ts: appends every module the process
// loads, ESM (through a resolve hook) and CommonJS (through Module._load), one per line, to the
// file named by PLDR_IMPORT_LOG.
import {appendFileSync} from 'node:fs';
import Module, {register} from 'node:module';

const log = process.env.PLDR_IMPORT_LOG;
register(
  'data:text/javascript,' +
    encodeURIComponent(`
import {appendFileSync} from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, resolved.url + '\\n');
  return resolved;
}`),
);
const load = Module._load;
Module._load = function (request, ...rest) {
  appendFileSync(log, `require ${request}\n`);
  return load.call(this, request, ...rest);
};
