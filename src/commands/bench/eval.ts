import {suiteCommand} from '../../cli/bench-suites.js';

export default suiteCommand('eval');
