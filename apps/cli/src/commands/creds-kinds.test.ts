import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CREDENTIAL_KINDS, cliFlagsOf } from '#kinds';
import { ExitCode } from '../exit-codes.js';
import { runCli } from '../program.js';

/** Runs the CLI offline (nothing here reaches the API), collecting what it writes. */
async function cli(args: string[]) {
  const written = { out: '', err: '' };
  const to = (key: 'out' | 'err') =>
    ({
      write(s: string) {
        written[key] += s;
        return true;
      },
    }) as unknown as NodeJS.WriteStream;
  const io = { stdout: to('out'), stderr: to('err'), stdin: new PassThrough(), now: Date.now };
  const code = await runCli(args, { ...io, env: { TOKENKEEPER_URL: 'http://127.0.0.1:9' } });
  return { code, ...written };
}

describe('creds add/update take their flags and kinds from the kind descriptors', () => {
  it('add offers every kind and every kind flag; update leaves out the add-only ones', async () => {
    const add = (await cli(['creds', 'add', '--help'])).out.replace(/\s+/g, ' ');
    for (const kind of CREDENTIAL_KINDS) expect(add).toContain(`"${kind}"`);
    for (const f of cliFlagsOf()) expect(add).toContain(f.flag);
    const update = (await cli(['creds', 'update', '--help'])).out;
    for (const f of cliFlagsOf()) {
      if (f.addOnly) expect(update).not.toContain(f.flag.split(' ')[0]);
      else expect(update).toContain(f.flag);
    }
  });

  it('an unknown kind is a usage error naming the choices', async () => {
    const { code, err } = await cli(['creds', 'add', '--kind', 'oauth2.password']);
    expect(code).toBe(ExitCode.Usage);
    expect(err).toContain('oauth2.client_credentials');
  });
});
