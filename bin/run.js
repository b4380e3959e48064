#!/usr/bin/env node
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import {execute} from '@oclif/core';

import {loadOptions} from '../dist/cli/manifest.js';
import {keepGoingWhenOutputCloses} from '../dist/cli/streams.js';

keepGoingWhenOutputCloses();
await execute({loadOptions: await loadOptions(join(dirname(fileURLToPath(import.meta.url)), '..'))});
