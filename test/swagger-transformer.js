// Runs @nestjs/swagger's compiler plugin under ts-jest, as `nest build` does, so tests see the built schemas.
const plugin = require('@nestjs/swagger/plugin');

module.exports.name = 'nestjs-swagger-transformer';
module.exports.version = 1;
module.exports.factory = (cs) =>
  plugin.before(
    { introspectComments: true, classValidatorShim: true, dtoFileNameSuffix: ['.dto.ts'] },
    cs.program,
  );
