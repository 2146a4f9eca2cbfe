// openapi.json is a reviewed artefact: it must match what the code generates (npm run build && npm run openapi).
import SwaggerParser from '@apidevtools/swagger-parser';
import { readFileSync } from 'node:fs';
import { generateOpenApi, OPENAPI_PATH } from '../../src/scripts/write-openapi';

describe('openapi.json', () => {
  it('is a valid OpenAPI 3 document and matches the code', async () => {
    const generated = JSON.parse(JSON.stringify(await generateOpenApi()));
    await expect(SwaggerParser.validate(structuredClone(generated))).resolves.toBeDefined();
    const committed = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8'));
    // On a mismatch: run `npm run build && npm run openapi` and review the diff.
    expect(committed).toEqual(generated);
  });
});
