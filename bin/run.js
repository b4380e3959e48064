#!/usr/bin/env node
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import {main} from '../dist/cli/main.js';

await main(join(dirname(fileURLToPath(import.meta.url)), '..'));
