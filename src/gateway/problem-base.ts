/** The problem `type` base URI, kept equal to core's (src/core/service/problem.ts) without importing its internals. */
export { BulwarkError } from '../core/index.ts';
export const PROBLEM_TYPE_BASE_URL = 'https://bulwark.dev/docs/';
