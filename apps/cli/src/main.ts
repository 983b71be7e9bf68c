#!/usr/bin/env node
import { runCli } from './program.js';

/** `tokenkeeper`: the command line for the tokenkeeper API. Talks HTTP only, never Redis. */
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  now: () => Date.now(),
});
