/** oclif's help with one more section, EXIT CODES, at the end of every command's and topic's help and of `pldr --help`. */
import {CommandHelp, Help, type Interfaces} from '@oclif/core';

import {EXIT_CODES} from './errors.js';

const HEADER = 'EXIT CODES';
const exitCodeRows = (): Array<[string, string]> => EXIT_CODES.map(([code, what]) => [String(code), what]);

class PldrCommandHelp extends CommandHelp {
  protected override sections(): ReturnType<CommandHelp['sections']> {
    return [...super.sections(), {header: HEADER, generate: (_, header) => [{header, body: exitCodeRows()}]}];
  }
}

export default class PldrHelp extends Help {
  protected override CommandHelpClass = PldrCommandHelp;

  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp();
    this.log(this.section(HEADER, exitCodeRows()));
    this.log('');
  }

  protected override async showTopicHelp(topic: Interfaces.Topic): Promise<void> {
    await super.showTopicHelp(topic);
    this.log(this.section(HEADER, exitCodeRows()));
    this.log('');
  }
}
