/**
 * One jest run for unit and integration tests. Integration tests talk to real local servers
 * (embedded PostgreSQL, dynalite, protocol stand-ins) started once per run in global setup.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Each test file removes the temp directories it made (test/support/temp-dirs.ts).
  setupFilesAfterEnv: ['<rootDir>/test/support/cleanup.ts'],
  testTimeout: 60_000,
  // Two cores: two workers keep integration servers responsive.
  maxWorkers: 2,
};
