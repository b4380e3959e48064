#!/usr/bin/env node
import {execute} from '@oclif/core';

import {keepGoingWhenOutputCloses} from '../dist/cli/streams.js';

keepGoingWhenOutputCloses();
await execute({dir: import.meta.url});
