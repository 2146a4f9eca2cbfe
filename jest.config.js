// Unit tests (src/**/*.spec.ts, pure logic) and integration tests (test/**/*.e2e-spec.ts, real Redis and
// Postgres). The Swagger plugin runs under ts-jest too, so the OpenAPI document in tests is the built one.
const swaggerPlugin = '<rootDir>/test/swagger-transformer.js';
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false, astTransformers: { before: [swaggerPlugin] } }],
};

/** Onboarding, OTP, messages, sessions, the scheduler and health, run a second time on a cluster. */
const CLUSTER_SUITES = ['onboarding', 'onboarding-bind', 'otp', 'messages', 'session', 'scheduler', 'http-basics'];

module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/src/**/*.spec.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      slowTestThreshold: 20,
    },
    {
      // The suites of the hot paths again, on a Redis Cluster of 3 masters and 3 replicas (cluster-setup.ts):
      // the service's own hash tags keep every multi-key step in one slot while the data spreads.
      displayName: 'cluster',
      testEnvironment: 'node',
      transform,
      testMatch: CLUSTER_SUITES.map((s) => `<rootDir>/test/integration/${s}.e2e-spec.ts`),
      globalSetup: '<rootDir>/test/cluster-setup.ts',
      globalTeardown: '<rootDir>/test/cluster-teardown.ts',
      globals: { SMSB_REDIS_CLUSTER: true },
      slowTestThreshold: 20,
    },
  ],
  testTimeout: 60000,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
