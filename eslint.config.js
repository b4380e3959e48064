// eslint: the recommended JavaScript and TypeScript rules, without type-aware rules (so `npm run lint`
// stays fast), and eslint-config-prettier last so that no rule argues with prettier's formatting.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'fixtures/', 'results/', 'models/', 'pldr-bench/', 'docs/']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,js,mjs}'],
    languageOptions: {globals: {...globals.node}},
    rules: {
      // `const {timings: _timings, ...rest} = x` is how the code drops a key from an object.
      '@typescript-eslint/no-unused-vars': ['error', {ignoreRestSiblings: true}],
      // The code reads binary formats, terminal output and XML, whose regular expressions match control
      // characters (\x00, ANSI's \x1b) on purpose.
      'no-control-regex': 'off',
    },
  },
  {
    // Tests read the JSON that the CLI prints and the reference fixtures, and assert on their fields:
    // typing each parsed document would only repeat the assertions.
    files: ['tests/**'],
    rules: {'@typescript-eslint/no-explicit-any': 'off'},
  },
  prettier,
);
