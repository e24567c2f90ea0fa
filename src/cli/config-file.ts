import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type BulwarkConfig, loadConfig } from '../core/index.ts';
import { platformSchema } from './components.ts';

/** The config file a command uses: `--config`, else `BULWARK_CONFIG`, else `./bulwark.yaml` if present. */
export function configFile(
  option: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const chosen = option ?? env['BULWARK_CONFIG'];
  if (chosen) return resolve(chosen);
  return existsSync('bulwark.yaml') ? resolve('bulwark.yaml') : undefined;
}

export function loadPlatformConfig(file: string | undefined): BulwarkConfig {
  return loadConfig(platformSchema(), { file });
}
