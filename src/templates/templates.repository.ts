// Templates in Postgres (`templates`): locales as a JSON array, so their order (the first is the default) holds.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Template } from './template';

interface TemplateRow {
  name: string;
  variables: string[];
  locales: Template['locales'];
  created_at: Date;
  updated_at: Date;
}

const toTemplate = (r: TemplateRow): Template => ({ ...r });

@Injectable()
export class TemplatesRepository {
  constructor(private readonly db: DataSource) {}

  async all(): Promise<Template[]> {
    const rows: TemplateRow[] = await this.db.query('SELECT * FROM templates ORDER BY name');
    return rows.map(toTemplate);
  }

  async find(name: string): Promise<Template | null> {
    const rows: TemplateRow[] = await this.db.query('SELECT * FROM templates WHERE name = $1', [name]);
    return rows[0] ? toTemplate(rows[0]) : null;
  }

  /** Creates or replaces; answers whether it was new. */
  async save(t: Template): Promise<{ template: Template; created: boolean }> {
    const rows: (TemplateRow & { created: boolean })[] = await this.db.query(
      `INSERT INTO templates (name, variables, locales) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET variables = EXCLUDED.variables, locales = EXCLUDED.locales, updated_at = now()
       RETURNING *, (xmax = 0) AS created`,
      [t.name, JSON.stringify(t.variables), JSON.stringify(t.locales)],
    );
    const { created, ...row } = rows[0];
    return { template: toTemplate(row), created };
  }

  async delete(name: string): Promise<boolean> {
    // TypeORM answers a DELETE with [rows, affected].
    const [, affected] = (await this.db.query('DELETE FROM templates WHERE name = $1', [name])) as [
      unknown,
      number,
    ];
    return affected > 0;
  }
}
