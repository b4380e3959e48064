/**
 * Tokenizer training through spm_train (src/core/train/spm.ts): the special ids of a freshly
 * trained tokenizer, training from documents vs a text file, spm_train's own error line, and the
 * install message when spm_train is not on PATH. The spm_train tests are skipped, with a message,
 * where it is not installed.
 */
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {Tokenizer} from '../../../src/core/tokenizer.js';
import {readDocuments, resolveCorpus} from '../../../src/core/train/corpus.js';
import {findSpmTrain, spmErrorLine, trainTokenizer} from '../../../src/core/train/spm.js';
import {pldrRejection as error, ROOT, SPECIAL_PIECES, SPECIAL_TYPES, tempDir} from '../../helpers.js';

const CORPUS = join(ROOT, 'fixtures', 'tokenizer', 'corpus.txt');
const SPM = findSpmTrain();
if (!SPM)
  console.log(
    '[spm] spm_train is not installed: skipping the tokenizer-training tests (apt-get install sentencepiece)',
  );

const dir = tempDir('spm');

describe.skipIf(!SPM)('spm_train', () => {
  it('trains a unigram tokenizer with the paper layout: [PAD]=0 [UNK]=1 [START]=2 [END]=3 [SEP]=4 [CLS]=5, bytes 6-261', async () => {
    const docs = readDocuments(resolveCorpus(CORPUS), {split: 'lines'});
    const logs: string[] = [];
    const out = await trainTokenizer({
      input: docs,
      vocabSize: 512,
      outPrefix: join(dir, 'out', 'tok'),
      numThreads: 1,
      onLog: (l) => logs.push(l),
    });
    expect(out.model).toBe(join(dir, 'out', 'tok.model'));
    expect(out.vocabSize).toBe(512);
    expect(out.documents).toBe(554);
    expect(logs.some((l) => l.includes('Saving model'))).toBe(true);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['tok.model', 'tok.vocab']); // no temporary files left
    const tok = await Tokenizer.load(out.model);
    expect(tok.vocabSize).toBe(512);
    expect([0, 1, 2, 3, 4, 5].map((i) => tok.idToPiece(i))).toEqual(SPECIAL_PIECES);
    expect([0, 1, 2, 3, 4, 5].map((i) => tok.pieceType(i))).toEqual(SPECIAL_TYPES);
    expect([tok.padId, tok.unkId, tok.bosId, tok.endId]).toEqual([0, 1, 2, 3]);
    expect(tok.idToPiece(6)).toBe('<0x00>');
    expect(tok.idToPiece(261)).toBe('<0xFF>');
    expect(tok.info).toMatchObject({
      modelType: 'unigram',
      byteFallback: true,
      splitDigits: true,
      normalizer: 'nmt_nfkc',
    });
    expect(tok.tokenize('[SEP] 2024')).toEqual([...tok.encode('[SEP] 2024'), 3]);
    expect(tok.encode('[SEP]')).toContain(4);
    expect(tok.pieces('2024').filter((p) => /\d/.test(p))).toEqual(['2', '0', '2', '4']); // split digits
    expect(tok.tokenize('x').at(-1)).toBe(3);

    // the same text given as a file trains the same vocabulary
    const fromFile = await trainTokenizer({
      input: CORPUS,
      vocabSize: 512,
      outPrefix: join(dir, 'file', 'tok'),
      numThreads: 1,
    });
    expect(fromFile.documents).toBeUndefined();
    expect(readFileSync(fromFile.vocab, 'utf8')).toBe(readFileSync(out.vocab, 'utf8'));
  });

  it("spm_train's failure is one line with its own message; nothing is written", async () => {
    const msg = await error(
      trainTokenizer({input: CORPUS, vocabSize: 50_000, outPrefix: join(dir, 'fail', 'tok'), numThreads: 1}),
    );
    expect(msg).toMatch(/^spm_train failed: Vocabulary size too high \(50000\)\. Please set it to a value <= \d+\.$/);
    expect(readdirSync(join(dir, 'fail'))).toEqual([]);
    expect(existsSync(join(dir, 'fail', 'tok.model'))).toBe(false);
  });

  it('empty input and a missing text file are one-line errors', async () => {
    expect(await error(trainTokenizer({input: ['', '  '], vocabSize: 512, outPrefix: join(dir, 'e', 'tok')}))).toMatch(
      /no text to train the tokenizer on/,
    );
    expect(
      await error(trainTokenizer({input: join(dir, 'nope.txt'), vocabSize: 512, outPrefix: join(dir, 'e', 'tok')})),
    ).toMatch(/tokenizer training text not found/);
  });
});

describe('without spm_train', () => {
  it('says how to install it when it is not on PATH', async () => {
    const env = {...process.env, PATH: join(dir, 'no-such-bin')};
    expect(findSpmTrain('spm_train', env)).toBeUndefined();
    const msg = await error(trainTokenizer({input: CORPUS, vocabSize: 512, outPrefix: join(dir, 'x', 'tok'), env}));
    expect(msg).toMatch(/^spm_train \(SentencePiece's trainer\) was not found on PATH; install/);
    expect(msg).toContain('apt-get install sentencepiece');
    expect(msg).toContain('brew install sentencepiece');
    expect(msg).toContain('pip install sentencepiece');
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('extracts the message from spm_train stderr', () => {
    expect(
      spmErrorLine([
        'trainer_interface.cc(685) LOG(INFO) Saving model: m.model',
        'spm_train_main.cc(275) [_status.ok()] Internal: ./src/trainer_interface.cc(580) [(static_cast<int>(required_chars_.size() + meta_pieces_.size())) <= (trainer_spec_.vocab_size())] Vocabulary size is smaller than required_chars. 50 vs 335. Increase vocab_size or decrease character_coverage with --character_coverage option.',
        'Program terminated with an unrecoverable error.',
        '',
      ]),
    ).toBe(
      'Vocabulary size is smaller than required_chars. 50 vs 335. Increase vocab_size or decrease character_coverage with --character_coverage option.',
    );
    expect(spmErrorLine(['something odd happened'])).toBe('something odd happened');
    expect(spmErrorLine([])).toBe('no error message');
  });
});
