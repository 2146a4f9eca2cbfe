// What a Postgres error says about its cause, for code that must tell a bad row from a bad database.

/** A statement refused for what a row holds (SQLSTATE class 22 data exception, 23 constraint violation). */
export const isDataError = (err: unknown): boolean =>
  /^2[23]/.test((err as { code?: string } | null)?.code ?? '');
