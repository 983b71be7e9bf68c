#!/usr/bin/env node
// `npm run setup`: makes sure redis-server is available for `npm start` and the tests.
// As root with apt-get it installs the Debian package; otherwise it says what to run.
import { spawnSync } from 'node:child_process';
import { ensureRedisServer, findRedisServer, setLogPrefix } from './lib/embedded-redis.mjs';

setLogPrefix('[setup]');
const existing = findRedisServer();
const redisServer = existing ?? ensureRedisServer();
if (!redisServer) {
  process.stderr.write('[setup] redis-server is still missing; install it with one of the commands above.\n');
  process.exit(1);
}
const version = spawnSync(redisServer, ['--version'], { encoding: 'utf8' }).stdout?.trim();
process.stdout.write(
  `[setup] ${existing ? 'found' : 'installed'} ${redisServer}${version ? ` (${version})` : ''}\n`,
);
