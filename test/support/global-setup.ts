// Placeholder: the embedded PostgreSQL for integration tests is started here (in progress).
export default function globalSetup(): void {}
