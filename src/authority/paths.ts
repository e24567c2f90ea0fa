/** Where the authority keeps what the CLI on the same machine reads (a module of its own: no CA code). */
import { join } from 'node:path';

/** The admin token file (0600): whoever can read it is the operator. */
export const adminTokenPath = (home: string): string => join(home, 'authority', 'admin.token');
