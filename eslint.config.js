// A small rule set: mistakes the compiler lets through (unused code, a
// promise nobody awaits or catches, == where === was meant), not style.
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

const shared = {
  eqeqeq: ["error", "always", { null: "ignore" }],
  "no-var": "error",
  "prefer-const": ["error", { destructuring: "all" }],
  "no-empty": "error",
  "no-duplicate-imports": ["error", { allowSeparateTypeImports: true }],
  "no-unreachable": "error",
  "no-fallthrough": "error",
  "no-self-compare": "error",
  "no-unsafe-finally": "error",
  "no-sparse-arrays": "error",
};

const unused = { args: "after-used", caughtErrors: "none", ignoreRestSiblings: true, argsIgnorePattern: "^_", varsIgnorePattern: "^_" };

export default defineConfig(
  { ignores: ["dist/", "build/", "node_modules/"] },
  {
    files: ["**/*.ts"],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@typescript-eslint": tseslint.plugin },
    rules: {
      ...shared,
      "@typescript-eslint/no-unused-vars": ["error", unused],
      // node:test's describe/it/test return promises the runner itself awaits.
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["describe", "it", "test", "suite"] }] },
      ],
      "@typescript-eslint/only-throw-error": "error",
    },
  },
  {
    files: ["**/*.{js,mjs,cjs}"],
    rules: { ...shared, "no-unused-vars": ["error", unused] },
  },
);
