/** Runs a real authority in its own process for the benchmark; prints `{"url":...,"home":...}`. */
import { startAuthority } from '../../test/authority/fixtures.ts';

const authority = await startAuthority('sqlite');
process.stdout.write(`${JSON.stringify({ url: authority.url, home: authority.home })}\n`);
process.once('SIGTERM', () => void authority.stop().then(() => process.exit(0)));
