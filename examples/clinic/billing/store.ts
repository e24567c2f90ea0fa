/** The payments table (node:sqlite). Card numbers never reach it: only the vault token and last four. */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export interface Payment {
  id: string;
  patientId: string;
  amountCents: number;
  cardToken: string;
  cardLast4: string;
  createdBy: string;
  createdAt: string;
}

interface Row {
  id: string;
  patient_id: string;
  amount_cents: number;
  card_token: string;
  card_last4: string;
  created_by: string;
  created_at: string;
}

const fromRow = (r: Row): Payment => ({
  id: r.id,
  patientId: r.patient_id,
  amountCents: Number(r.amount_cents),
  cardToken: r.card_token,
  cardLast4: r.card_last4,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

export class PaymentStore {
  readonly #db: DatabaseSync;
  readonly file: string;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = join(dataDir, 'billing.db');
    this.#db = new DatabaseSync(this.file);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE IF NOT EXISTS payments (
        id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL,
        amount_cents INTEGER NOT NULL,
        card_token TEXT NOT NULL,
        card_last4 TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS payments_by_patient ON payments (patient_id);
    `);
  }

  create(input: Omit<Payment, 'id' | 'createdAt'>): Payment {
    const payment = { id: randomUUID(), createdAt: new Date().toISOString(), ...input };
    this.#db
      .prepare(
        'INSERT INTO payments (id, patient_id, amount_cents, card_token, card_last4, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        payment.id,
        input.patientId,
        input.amountCents,
        input.cardToken,
        input.cardLast4,
        input.createdBy,
        payment.createdAt,
      );
    return payment;
  }

  get(id: string): Payment | undefined {
    const row = this.#db.prepare('SELECT * FROM payments WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(patientId?: string): Payment[] {
    const rows = (patientId === undefined
      ? this.#db.prepare('SELECT * FROM payments ORDER BY created_at').all()
      : this.#db
          .prepare('SELECT * FROM payments WHERE patient_id = ? ORDER BY created_at')
          .all(patientId)) as unknown as Row[];
    return rows.map(fromRow);
  }

  close(): void {
    this.#db.close();
  }
}
