/** The appointments table (node:sqlite). It holds references (patient and doctor subjects), no PII. */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export interface Appointment {
  id: string;
  patientId: string;
  doctor: string | null;
  at: string;
  reason: string;
  createdBy: string;
}

interface Row {
  id: string;
  patient_id: string;
  doctor: string | null;
  at: string;
  reason: string;
  created_by: string;
}

const fromRow = (r: Row): Appointment => ({
  id: r.id,
  patientId: r.patient_id,
  doctor: r.doctor,
  at: r.at,
  reason: r.reason,
  createdBy: r.created_by,
});

export class AppointmentStore {
  readonly #db: DatabaseSync;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.#db = new DatabaseSync(join(dataDir, 'appointments.db'));
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE IF NOT EXISTS appointments (
        id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL,
        doctor TEXT,
        at TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_by TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS appointments_by_patient ON appointments (patient_id);
      CREATE INDEX IF NOT EXISTS appointments_by_doctor ON appointments (doctor);
    `);
  }

  create(input: Omit<Appointment, 'id'>): Appointment {
    const appointment = { id: randomUUID(), ...input };
    this.#db
      .prepare(
        'INSERT INTO appointments (id, patient_id, doctor, at, reason, created_by) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(appointment.id, input.patientId, input.doctor, input.at, input.reason, input.createdBy);
    return appointment;
  }

  get(id: string): Appointment | undefined {
    const row = this.#db.prepare('SELECT * FROM appointments WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(filter: { patientId?: string; doctor?: string } = {}): Appointment[] {
    const rows = (filter.patientId !== undefined
      ? this.#db.prepare('SELECT * FROM appointments WHERE patient_id = ? ORDER BY at').all(filter.patientId)
      : filter.doctor !== undefined
        ? this.#db.prepare('SELECT * FROM appointments WHERE doctor = ? ORDER BY at').all(filter.doctor)
        : this.#db.prepare('SELECT * FROM appointments ORDER BY at').all()) as unknown as Row[];
    return rows.map(fromRow);
  }

  close(): void {
    this.#db.close();
  }
}
