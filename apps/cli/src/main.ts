#!/usr/bin/env node
import { ExitCode } from './exit-codes.js';
import { runCli } from './program.js';

/** `tokenkeeper`: the command line for the tokenkeeper API. Talks HTTP only, never Redis. */

// A reader that stops early (`tokenkeeper creds ls | head -3`) closes the pipe: that ends the
// command quietly, as it does for any Unix tool, instead of an unhandled EPIPE stack trace. A
// command that had not finished (`creds rm A B` with B still to do) did not succeed: it exits as
// one killed by SIGPIPE does, never 0.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.ClosedPipe);
    throw err;
  });
}
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  now: () => Date.now(),
});
