// Preloaded (NODE_OPTIONS=--require) into each of node's test processes by run.mjs: require('tls') and
// require('node:tls') from node's test files resolve to mlstls (MLSTLS_TARGET, the package's CommonJS entry).
// With MLSTLS_TARGET unset the tests run against node:tls itself, as a baseline.
'use strict';
const Module = require('module');
const fs = require('fs');
const TARGET = process.env.MLSTLS_TARGET;
const ROOT = process.env.MLSTLS_TREE;
const MARK = process.env.MLSTLS_MARK;
const load = Module._load;
let marked = false;
Module._load = function(request, parent, isMain) {
  if (TARGET && (request === 'tls' || request === 'node:tls') && parent && typeof parent.filename === 'string' &&
      parent.filename.startsWith(ROOT)) {
    // Record that this test really used mlstls (a test that never loads tls proves nothing about it).
    if (MARK && !marked) { marked = true; try { fs.appendFileSync(MARK, `${process.pid}\n`); } catch {} }
    return load.call(this, TARGET, parent, isMain);
  }
  return load.apply(this, arguments);
};
