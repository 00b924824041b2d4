import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.node/**', 'coverage/**', '.p2tui/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/tui/**/*.{ts,tsx}', 'test/tui/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
    },
  },
  {
    // The dependency-cruiser config is CommonJS (the form it loads).
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Time goes through the injected clock (src/core/clock.ts), so tests advance a manual clock instead of sleeping.
    // Real time is read directly only where it is the point: the clock itself, SQLite's busy waits while a database
    // opens, and the TUI log's timestamps.
    files: ['src/**/*.{ts,tsx}'],
    ignores: ['src/core/clock.ts', 'src/store/database.ts', 'src/tui/run.tsx'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'].map((name) => ({
          name,
          message: 'Use the injected Clock (src/core/clock.ts): timeout, interval, sleep.',
        })),
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Use the injected Clock: clock.now().' },
        { object: 'performance', property: 'now', message: 'Use the injected Clock: clock.monotonic().' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'new Date() reads the wall clock: use new Date(clock.now()).',
        },
      ],
    },
  },
);
