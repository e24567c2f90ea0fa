/**
 * The patients table (node:sqlite, one file in the data directory). Every PII column holds a FieldCipher
 * value (`bulwark:env1:...`, AES-256-GCM under a data key wrapped by `keys`); only the record id (the
 * patient's subject) and the treating doctor's subject are stored in the clear, because they are what
 * access decisions and lookups are made on.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export interface StoredPatient {
  id: string;
  doctor: string | null;
  name: string;
  dateOfBirth: string;
  nationalId: string;
  notes: string;
  createdAt: string;
}

interface Row {
  id: string;
  doctor: string | null;
  name_enc: string;
  dob_enc: string;
  national_id_enc: string;
  notes_enc: string;
  created_at: string;
}

const fromRow = (r: Row): StoredPatient => ({
  id: r.id,
  doctor: r.doctor,
  name: r.name_enc,
  dateOfBirth: r.dob_enc,
  nationalId: r.national_id_enc,
  notes: r.notes_enc,
  createdAt: r.created_at,
});

export class PatientStore {
  readonly #db: DatabaseSync;
  readonly file: string;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = join(dataDir, 'patients.db');
    this.#db = new DatabaseSync(this.file);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE IF NOT EXISTS patients (
        id TEXT PRIMARY KEY,
        doctor TEXT,
        name_enc TEXT NOT NULL,
        dob_enc TEXT NOT NULL,
        national_id_enc TEXT NOT NULL,
        notes_enc TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS patients_by_doctor ON patients (doctor);
    `);
  }

  /** Inserts a patient; false when the id exists already (the caller answers 409). */
  insert(p: StoredPatient): boolean {
    const result = this.#db
      .prepare(
        'INSERT OR IGNORE INTO patients (id, doctor, name_enc, dob_enc, national_id_enc, notes_enc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(p.id, p.doctor, p.name, p.dateOfBirth, p.nationalId, p.notes, p.createdAt);
    return Number(result.changes) === 1;
  }

  get(id: string): StoredPatient | undefined {
    const row = this.#db.prepare('SELECT * FROM patients WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(doctor?: string): StoredPatient[] {
    const rows = (doctor === undefined
      ? this.#db.prepare('SELECT * FROM patients ORDER BY id').all()
      : this.#db
          .prepare('SELECT * FROM patients WHERE doctor = ? ORDER BY id')
          .all(doctor)) as unknown as Row[];
    return rows.map(fromRow);
  }

  setNotes(id: string, notesEnc: string): void {
    this.#db.prepare('UPDATE patients SET notes_enc = ? WHERE id = ?').run(notesEnc, id);
  }

  close(): void {
    this.#db.close();
  }
}
