/** `bulwark config check FILE`: every problem in a config file at once, each with its key path and fix. */

import { insecureSettings } from '../../core/config/insecure.ts';
import { checkConfig } from '../../core/index.ts';
import { platformSchema } from '../components.ts';

export function configCheck(
  file: string,
  out: NodeJS.WritableStream,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const { issues, config } = checkConfig(platformSchema(), { file, env });
  if (!config) {
    out.write(`${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n`);
    for (const issue of issues) out.write(`  ✗ ${issue.path}: ${issue.message}\n      fix: ${issue.fix}\n`);
    return 1;
  }
  out.write(`${file}: valid (mode ${config.mode})\n`);
  if (config.mode === 'development') {
    for (const issue of insecureSettings(config)) {
      out.write(`  ! ${issue.path}: ${issue.message} (allowed in development mode only)\n`);
    }
  }
  return 0;
}
