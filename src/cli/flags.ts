/** Arguments and flags that several commands share, each declared once. */
import {Args, Flags} from '@oclif/core';

import {VARIANTS} from '../core/config.js';

const requiredArg = (description: string) => Args.string({ignoreStdin: true, description, required: true});
const optionalArg = (description: string) => Args.string({ignoreStdin: true, description});

/**
 * A command's positional arguments, each name with its description: those it cannot do without, then those that may be
 * left out. ignoreStdin: oclif would otherwise read standard input itself for a missing argument, give up after 10 ms and
 * drop what it had read; a command that takes its input on standard input reads it itself.
 */
export function positionalArgs<R extends string, O extends string = never>(
  required: Record<R, string>,
  optional: Record<O, string> = {} as Record<O, string>,
): Record<R, ReturnType<typeof requiredArg>> & Record<O, ReturnType<typeof optionalArg>> {
  const args: Record<string, ReturnType<typeof requiredArg> | ReturnType<typeof optionalArg>> = {};
  for (const [name, description] of Object.entries<string>(required)) args[name] = requiredArg(description);
  for (const [name, description] of Object.entries<string>(optional)) args[name] = optionalArg(description);
  return args as Record<R, ReturnType<typeof requiredArg>> & Record<O, ReturnType<typeof optionalArg>>;
}

/** How a reference .pth is read: its hparams.json, and the variant its hparams cannot tell. */
export const pthFlags = {
  hparams: Flags.string({
    description:
      "the reference's hparams.json for a .pth model (default: hparams.json or <stem>_hparams.json beside it)",
  }),
  variant: Flags.string({
    description: 'v510 or v510_dag for a .pth model (their hparams write the same keys)',
    options: [...VARIANTS],
  }),
};

/** The SentencePiece model of a text prompt. */
export const tokenizerFlag = Flags.string({
  description: 'SentencePiece model (default: tokenizer.model of the model directory or snapshot)',
});

/** A prompt read from a file or given as token ids. */
export const promptFlags = {
  'prompt-file': Flags.string({description: 'read the prompt from a file'}),
  ids: Flags.string({description: 'the prompt as token ids, comma-separated ("" = the empty prompt)'}),
};

/** A switch: off unless given (--json, --force, --all, …). */
export const switchFlag = (description: string) => Flags.boolean({description, default: false});

/** The model of a command that falls back to the embedded demo model. */
export const demoModelFlag = Flags.string({
  char: 'm',
  description:
    'model directory, or a reference .pth (hparams.json beside it, or --hparams); default: the embedded demo model',
});
