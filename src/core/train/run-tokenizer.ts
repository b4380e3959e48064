/**
 * The tokenizer of a new run that was given none: SentencePiece trained on the run's corpus with
 * spm_train (spm.ts), its failures told in terms of `pldr train`'s flags.
 */
import {join} from 'node:path';

import {PldrError} from '../errors.js';
import {type CorpusOptions, readDocuments, resolveCorpus} from './corpus.js';
import {DEFAULT_VOCAB_SIZE} from './settings.js';
import {trainTokenizer, VocabSizeTooLarge} from './spm.js';

/**
 * Train a tokenizer on `corpus` into the folder `dir` and return its model file: `given` pieces
 * (--vocab-size), or without it as many as the corpus allows up to DEFAULT_VOCAB_SIZE. `note`
 * receives what the user should know as it happens.
 */
export async function trainRunTokenizer(
  corpus: string[],
  options: CorpusOptions,
  given: number | undefined,
  dir: string,
  note: (text: string) => void,
): Promise<string> {
  const vocabSize = given ?? DEFAULT_VOCAB_SIZE;
  note(`training a ${vocabSize}-piece SentencePiece tokenizer on the corpus (spm_train)...`);
  const docs = readDocuments(resolveCorpus(corpus), options);
  try {
    const r = await trainTokenizer({
      input: (async function* () {
        for await (const d of docs) yield d.text;
      })(),
      vocabSize,
      fitVocabSize: given === undefined,
      outPrefix: join(dir, 'tokenizer'),
    });
    if (r.vocabSize !== vocabSize)
      note(
        `the corpus allows at most ${r.vocabSize} pieces: trained ${r.vocabSize} instead of ${vocabSize} (--vocab-size sets it)`,
      );
    note(`tokenizer trained in ${r.seconds.toFixed(1)} s`);
    return r.model;
  } catch (e) {
    if (e instanceof VocabSizeTooLarge)
      throw new PldrError(
        `--vocab-size ${vocabSize} is too large for this corpus: spm_train allows at most ${e.max} pieces (give --vocab-size ${e.max} or less, or more text)`,
      );
    // spm_train's own line when the vocabulary cannot hold every character the corpus needs
    if (e instanceof PldrError && /required_chars/.test(e.message))
      throw new PldrError(`${e.message} (raise --vocab-size)`);
    throw e;
  }
}
